/* Unit tests of storage/s3_xml.c: the XML extraction on well-formed and hostile input,
 * ListObjectsV2 pages, error bodies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/mem.h"
#include "storage/s3.h"
#include "tests/test.h"

/* --- XML ---------------------------------------------------------------------------------- */

static char *
xmlText(const char *xml, const char *tag, int *rc, Err *err) {
    char *out = NULL;

    *rc = s3XmlText(xml, strlen(xml), tag, &out, err);
    return out;
}

static void
testXmlText(void) {
    Err err = {0};
    char *t;
    int rc;

    t = xmlText("<a><KeyCount>3</KeyCount><Key>x/y</Key></a>", "Key", &rc, &err);
    CHECK_INT(rc, 1);
    CHECK_STR(t, "x/y");
    bvFree(t);
    t = xmlText("<Key a=\"1\">v</Key>", "Key", &rc, &err);
    CHECK_INT(rc, 1);
    CHECK_STR(t, "v");
    bvFree(t);
    t = xmlText("<Prefix/><Key>k</Key>", "Prefix", &rc, &err);
    CHECK_INT(rc, 1);
    CHECK_STR(t, "");
    bvFree(t);
    t = xmlText("<Key>a&amp;b&lt;c&gt;&quot;&apos;&#65;&#x42;&#xe9;&#x1F600;</Key>", "Key", &rc, &err);
    CHECK_INT(rc, 1);
    CHECK_STR(t, "a&b<c>\"'AB\xc3\xa9\xf0\x9f\x98\x80");
    bvFree(t);
    t = xmlText("<Keys>1</Keys>", "Key", &rc, &err);
    CHECK_INT(rc, 0);
    CHECK(t == NULL);
    t = xmlText("", "Key", &rc, &err);
    CHECK_INT(rc, 0);
}

static void
checkXmlBad(const char *xml, const char *tag, const char *msgPart) {
    Err err = {0};
    char *out = NULL;
    int rc = s3XmlText(xml, strlen(xml), tag, &out, &err);

    CHECK_INT(rc, -1);
    CHECK(out == NULL);
    CHECK_INT(err.code, ERR_FORMAT);
    if (strstr(err.msg, msgPart) == NULL)
        testFail(__FILE__, __LINE__, "'%s': message '%s' lacks '%s'", xml, err.msg, msgPart);
}

static void
testXmlHostile(void) {
    char *big;
    size_t n = S3_XML_TEXT_MAX + 10;

    checkXmlBad("<Key>abc", "Key", "not closed");
    checkXmlBad("<Key", "Key", "unterminated");
    checkXmlBad("<Key a='1'", "Key", "unterminated");
    checkXmlBad("<Key>a<b>c</b></Key>", "Key", "markup");
    checkXmlBad("<Key><![CDATA[x]]></Key>", "Key", "markup");
    checkXmlBad("<Key>a&b</Key>", "Key", "entity");
    checkXmlBad("<Key>&unknown;</Key>", "Key", "entity");
    checkXmlBad("<Key>&#0;</Key>", "Key", "character reference");
    checkXmlBad("<Key>&#xD800;</Key>", "Key", "character reference");
    checkXmlBad("<Key>&#x110000;</Key>", "Key", "character reference");
    checkXmlBad("<Key>&#99999999999999999999;</Key>", "Key", "entity");
    checkXmlBad("<Key>&#x;</Key>", "Key", "entity");
    checkXmlBad("<Key>&#;</Key>", "Key", "entity");
    checkXmlBad("<Key>&#12a;</Key>", "Key", "entity");
    /* A NUL inside would cut the C string that callers get. */
    {
        Err err = {0};
        char *out = NULL;
        const char nul[] = "<Key>a\0b</Key>";

        CHECK_INT(s3XmlText(nul, sizeof(nul) - 1, "Key", &out, &err), -1);
        CHECK_MSG(err.msg, "NUL");
    }
    big = bvMalloc(5 * n + 20);
    memcpy(big, "<Key>", 5);
    memset(big + 5, 'x', n);
    memcpy(big + 5 + n, "</Key>", 7);
    checkXmlBad(big, "Key", "longer than");
    /* Entities may not smuggle a long text past the limit either. */
    for (size_t i = 0; i < n; i++)
        memcpy(big + 5 + 5 * i, "&amp;", 5);
    memcpy(big + 5 + 5 * n, "</Key>", 7);
    checkXmlBad(big, "Key", "longer than");
    bvFree(big);
}

static const char listPage[] =
    "<?xml version='1.0' encoding='UTF-8'?>\n"
    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name>"
    "<Prefix>p/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>"
    "<Contents><Key>p/seg/0001</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified>"
    "<ETag>&quot;abc&quot;</ETag><Size>1000</Size><StorageClass>STANDARD</StorageClass></Contents>"
    "<Contents><Key>p/seg/0002&amp;x</Key><Size>18446744073709551615</Size></Contents>"
    "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
    "</ListBucketResult>";

static void
testListParse(void) {
    S3ListPage page;
    Err err = {0};

    REQUIRE(s3ListParse(listPage, strlen(listPage), &page, &err) == 0);
    CHECK_INT(page.count, 2);
    CHECK_STR(page.entries[0].key, "p/seg/0001");
    CHECK_INT(page.entries[0].size, 1000);
    CHECK_STR(page.entries[1].key, "p/seg/0002&x");
    CHECK(page.entries[1].size == UINT64_MAX);
    CHECK(page.truncated);
    CHECK_STR(page.nextToken, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
    s3ListPageClear(&page);
    CHECK(page.entries == NULL && page.count == 0);

    {
        static const char last[] = "<ListBucketResult><IsTruncated>false</IsTruncated>"
                                   "<KeyCount>0</KeyCount></ListBucketResult>";

        REQUIRE(s3ListParse(last, strlen(last), &page, &err) == 0);
        CHECK_INT(page.count, 0);
        CHECK(!page.truncated);
        CHECK(page.nextToken == NULL);
        s3ListPageClear(&page);
    }
}

static void
checkListBad(const char *xml, const char *msgPart) {
    S3ListPage page;
    Err err = {0};

    CHECK_INT(s3ListParse(xml, strlen(xml), &page, &err), -1);
    CHECK_INT(err.code, ERR_FORMAT);
    CHECK(page.entries == NULL && page.nextToken == NULL);
    if (strstr(err.msg, msgPart) == NULL)
        testFail(__FILE__, __LINE__, "message '%s' lacks '%s'", err.msg, msgPart);
}

static void
testListHostile(void) {
    checkListBad("<Error><Code>x</Code></Error>", "not a ListBucketResult");
    checkListBad("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
                 "no <NextContinuationToken>");
    checkListBad("<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>"
                 "</NextContinuationToken></ListBucketResult>", "no <NextContinuationToken>");
    checkListBad("<ListBucketResult><IsTruncated>maybe</IsTruncated></ListBucketResult>",
                 "IsTruncated");
    checkListBad("<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
                 "no <Key>");
    checkListBad("<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>", "size");
    checkListBad("<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents>"
                 "</ListBucketResult>", "size");
    checkListBad("<ListBucketResult><Contents><Key>k</Key><Size>18446744073709551616</Size>"
                 "</Contents></ListBucketResult>", "size");
    checkListBad("<ListBucketResult><Contents><Key>k</Key><Size>1</Size>", "not closed");
    checkListBad("<ListBucketResult><Contents><Key>k<Size>1</Size></Key></Contents>"
                 "</ListBucketResult>", "markup");
}

/* Every prefix and many corruptions of a valid page: parsed or ERR_FORMAT, never a crash or an
 * over-read (ASan), never a half-filled page. */
static void
testListTruncatedAndCorrupted(void) {
    size_t len = strlen(listPage);
    char *copy = bvMalloc(len);
    unsigned seed = 12345;

    for (size_t cut = 0; cut <= len; cut++) {
        S3ListPage page;
        Err err = {0};

        memcpy(copy, listPage, cut);
        if (s3ListParse(copy, cut, &page, &err) == 0)
            s3ListPageClear(&page);
        else if (err.code != ERR_FORMAT)
            testFail(__FILE__, __LINE__, "cut at %zu: code %d", cut, err.code);
    }
    for (int round = 0; round < 20000; round++) {
        S3ListPage page;
        Err err = {0};

        memcpy(copy, listPage, len);
        for (int k = 0; k < 3; k++) {
            seed = seed * 1103515245 + 12345;
            copy[(seed >> 8) % len] = "<>/&;#x0 \"K"[(seed >> 20) % 11];
        }
        if (s3ListParse(copy, len, &page, &err) == 0)
            s3ListPageClear(&page);
        else if (err.code != ERR_FORMAT)
            testFail(__FILE__, __LINE__, "round %d: code %d", round, err.code);
    }
    bvFree(copy);
}

static void
testErrorParse(void) {
    static const char body[] =
        "<?xml version='1.0' encoding='UTF-8'?>\n<Error><Code>SignatureDoesNotMatch</Code>"
        "<Message>The request signature we calculated does not match the signature you provided."
        "</Message><StringToSign>AWS4-HMAC-SHA256\n...</StringToSign></Error>";
    char *code, *message;
    char *hostile;

    s3ErrorParse(body, strlen(body), &code, &message);
    CHECK_STR(code, "SignatureDoesNotMatch");
    CHECK_STR(message, "The request signature we calculated does not match the signature you "
                       "provided.");
    bvFree(code);
    bvFree(message);
    s3ErrorParse("<html>Bad Gateway</html>", 24, &code, &message);
    CHECK(code == NULL && message == NULL);
    /* Control characters from the network are not passed on to a terminal or a log. */
    {
        static const char ctl[] = "<Code>Bad\x1b[31m</Code><Message>a\nb&#9;c</Message>";

        s3ErrorParse(ctl, strlen(ctl), &code, &message);
    }
    CHECK_STR(code, "Bad?[31m");
    CHECK_STR(message, "a?b?c");
    bvFree(code);
    bvFree(message);
    hostile = bvMalloc(3000);
    strcpy(hostile, "<Message>");
    memset(hostile + 9, 'm', 2000);
    strcpy(hostile + 2009, "</Message>");
    s3ErrorParse(hostile, strlen(hostile), &code, &message);
    CHECK(code == NULL);
    REQUIRE(message != NULL);
    CHECK(strlen(message) <= 400);
    CHECK(strcmp(message + strlen(message) - 3, "...") == 0);
    bvFree(message);
    bvFree(hostile);
}

void
suite_s3_xml(void) {
    testRun("s3: XML text", testXmlText);
    testRun("s3: XML hostile input", testXmlHostile);
    testRun("s3: ListObjectsV2 page", testListParse);
    testRun("s3: ListObjectsV2 page, hostile", testListHostile);
    testRun("s3: ListObjectsV2 page, truncated and corrupted", testListTruncatedAndCorrupted);
    testRun("s3: error body", testErrorParse);
}
