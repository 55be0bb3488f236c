/* Comparison of GTID states given as text, through binlog/gtid.h's parsers of either flavour. */
#include "archive/gtidstate.h"

#include "binlog/gtid.h"

/* Parse two GTID states of a flavour and compare them: `reached` = b is contained in a,
 * otherwise equality. */
static int
gtidCompare(BinlogFlavour flavour, const char *a, const char *b, bool reached, bool *out, Err *err) {
    int rc = 0;

    if (flavour == BINLOG_FLAVOUR_MARIADB) {
        MariaGtidPos *pa = mariaGtidPosNew(), *pb = mariaGtidPosNew();

        if (mariaGtidPosParse(pa, a, err) != 0 || mariaGtidPosParse(pb, b, err) != 0)
            rc = -1;
        else
            *out = reached ? mariaGtidPosReached(pa, pb) : mariaGtidPosEqual(pa, pb);
        mariaGtidPosFree(pa);
        mariaGtidPosFree(pb);
        return rc;
    }
    if (flavour == BINLOG_FLAVOUR_MYSQL) {
        GtidSet *sa = gtidSetNew(), *sb = gtidSetNew();

        if (gtidSetParse(sa, a, err) != 0 || gtidSetParse(sb, b, err) != 0)
            rc = -1;
        else
            *out = reached ? gtidSetIsSubset(sb, sa) : gtidSetEqual(sa, sb);
        gtidSetFree(sa);
        gtidSetFree(sb);
        return rc;
    }
    return errSet(err, ERR_INTERNAL, "gtid comparison of an unknown flavour");
}

int
archiveGtidReached(BinlogFlavour flavour, const char *state, const char *target, bool *reached, Err *err) {
    return gtidCompare(flavour, state, target, true, reached, err);
}

int
archiveGtidStateEqual(BinlogFlavour flavour, const char *a, const char *b, bool *equal, Err *err) {
    return gtidCompare(flavour, a, b, false, equal, err);
}
