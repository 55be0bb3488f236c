/*
 * The raw-read baseline of the catch-up benchmarks: what the server can send. A replica-protocol
 * reader that does nothing but read packets: it connects with Connector/C, asks for the binlog
 * from FILE:4 without blocking at the end (COM_BINLOG_DUMP flag 1) and with ANNOTATE_ROWS events,
 * as binvault's agent does, and counts packets and bytes until the server's EOF. No parsing, no
 * checksum, no copy: every catch-up figure of `make bench` is reported as a fraction of this.
 *
 *   rawread HOST PORT USER FILE     (password from BINVAULT_SOURCE_PASSWORD)
 *
 * Prints "bytes events seconds" on one line.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mysql.h>

static double
now(void) {
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
fail(MYSQL *m, const char *what) {
    fprintf(stderr, "rawread: %s: %s\n", what, mysql_error(m));
    return 1;
}

int
main(int argc, char **argv) {
    MYSQL *m;
    unsigned char cmd[4 + 2 + 4 + 512];
    size_t fileLen, len;
    unsigned long n;
    uint64_t bytes = 0, events = 0;
    double t0;
    const char *password = getenv("BINVAULT_SOURCE_PASSWORD");

    if (argc != 5) {
        fprintf(stderr, "usage: rawread HOST PORT USER FILE (password from BINVAULT_SOURCE_PASSWORD)\n");
        return 2;
    }
    fileLen = strlen(argv[4]);
    if (fileLen > 500) {
        fprintf(stderr, "rawread: file name too long\n");
        return 2;
    }
    m = mysql_init(NULL);
    if (mysql_real_connect(m, argv[1], argv[3], password, NULL, (unsigned)atoi(argv[2]), NULL, 0) == NULL)
        return fail(m, "connect");
    if (mysql_query(m, "SET @master_binlog_checksum = @@global.binlog_checksum, @mariadb_slave_capability = 4") != 0)
        return fail(m, "set");
    /* COM_BINLOG_DUMP: position, flags (1: non-blocking, 2: send ANNOTATE_ROWS), server id, file. */
    cmd[0] = 4, cmd[1] = cmd[2] = cmd[3] = 0;
    cmd[4] = 1 | 2, cmd[5] = 0;
    cmd[6] = 0x2a, cmd[7] = 0x2a, cmd[8] = 0x2a, cmd[9] = 0x2a;
    memcpy(cmd + 10, argv[4], fileLen);
    len = 10 + fileLen;
    t0 = now();
    if (m->methods->db_command(m, 0x12, (const char *)cmd, len, 1, NULL) != 0)
        return fail(m, "binlog dump");
    for (;;) {
        n = mysql_net_read_packet(m);
        if (n == packet_error)
            return fail(m, "read");
        if (m->net.read_pos[0] == 0xfe && n < 9)
            break;
        bytes += n - 1;
        events++;
    }
    printf("%llu %llu %.3f\n", (unsigned long long)bytes, (unsigned long long)events, now() - t0);
    mysql_close(m);
    return 0;
}
