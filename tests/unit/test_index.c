/* Unit tests of archive/index: chunk names (the chunks themselves: test_archive.c). */
#include "archive/index.h"
#include "tests/test.h"

static void
testChunkNames(void) {
    char name[64];
    uint64_t first, last;

    archiveChunkName(1, 16, name, sizeof(name));
    CHECK_STR(name, "index/0000000000000001-0000000000000016.bvi");
    REQUIRE(archiveChunkNameParse(name, &first, &last) == 0);
    CHECK_INT(first, 1);
    CHECK_INT(last, 16);
    CHECK(archiveChunkNameParse("index/0000000000000002-0000000000000001.bvi", &first, &last) != 0);
    CHECK(archiveChunkNameParse("index/0000000000000000-0000000000000001.bvi", &first, &last) != 0);
    CHECK(archiveChunkNameParse("index/000000000000001-0000000000000001.bvi", &first, &last) != 0);
    CHECK(archiveChunkNameParse("index/0000000000000001-0000000000000001.bvj", &first, &last) != 0);
    CHECK(archiveChunkNameParse("index/0000000000000001-00000000000000x1.bvi", &first, &last) != 0);
}

void
suite_index(void) {
    testRun("archive: index chunk names", testChunkNames);
}
