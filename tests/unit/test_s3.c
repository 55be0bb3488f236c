/* Unit tests of storage/s3: SigV4 against AWS's published examples, URI and query encoding, the
 * XML extraction on hostile input, error classification, URLs, options and credentials. The
 * requests themselves are tested live against Swift (tests/integration/s3.sh). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/io.h"
#include "common/mem.h"
#include "tests/test.h"
#include "storage/http.h"
#include "storage/s3.h"

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* --- SigV4: the AWS Signature Version 4 test suite ---------------------------------------- */

/* Credentials, date and scope shared by every case of the suite. */
#define SUITE_KEY "AKIDEXAMPLE"
#define SUITE_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define SUITE_DATE "20150830T123600Z"
#define SUITE_SCOPE "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request"

typedef struct SuiteCase {
    const char *method;
    const char *path;
    S3KeyValue query[4];
    size_t queryCount;
    S3KeyValue headers[6];
    size_t headerCount;
    const char *creq;
    const char *sts;
    const char *signedHeaders;
    const char *signature;
} SuiteCase;

static void
checkSuiteCase(const char *name, const SuiteCase *c) {
    S3SignInput in = {
        .method = c->method,
        .path = c->path,
        .query = c->query,
        .queryCount = c->queryCount,
        .headers = c->headers,
        .headerCount = c->headerCount,
        .payloadHash = EMPTY_SHA256,
        .amzDate = SUITE_DATE,
        .region = "us-east-1",
        .service = "service",
        .accessKeyId = SUITE_KEY,
        .secretAccessKey = SUITE_SECRET,
    };
    S3Signature sig;
    char *authz;

    s3Sign(&in, &sig);
    if (c->creq != NULL && strcmp(sig.canonicalRequest, c->creq) != 0)
        testFail(__FILE__, __LINE__, "%s: canonical request\n%s\nexpected\n%s", name,
                 sig.canonicalRequest, c->creq);
    if (c->sts != NULL && strcmp(sig.stringToSign, c->sts) != 0)
        testFail(__FILE__, __LINE__, "%s: string to sign\n%s\nexpected\n%s", name, sig.stringToSign,
                 c->sts);
    CHECK_STR(sig.signedHeaders, c->signedHeaders);
    CHECK_STR(sig.signature, c->signature);
    authz = bvSprintf("AWS4-HMAC-SHA256 Credential=" SUITE_SCOPE ", SignedHeaders=%s, Signature=%s",
                      c->signedHeaders, c->signature);
    CHECK_STR(sig.authorization, authz);
    bvFree(authz);
    s3SignatureClear(&sig);
}

#define HOST {"Host", "example.amazonaws.com"}
#define XDATE {"X-Amz-Date", SUITE_DATE}

static void
testSigV4Suite(void) {
    /* get-vanilla: the whole chain, step by step. */
    checkSuiteCase("get-vanilla",
                   &(SuiteCase){
                       .method = "GET", .path = "/", .headers = {HOST, XDATE}, .headerCount = 2,
                       .creq = "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
                               "host;x-amz-date\n" EMPTY_SHA256,
                       .sts = "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
                              "aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c252"
                              "92927e63",
                       .signedHeaders = "host;x-amz-date",
                       .signature = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
                   });
    checkSuiteCase("post-vanilla",
                   &(SuiteCase){
                       .method = "POST", .path = "/", .headers = {HOST, XDATE}, .headerCount = 2,
                       .sts = "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
                              "aws4_request\n553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401a"
                              "e622fc87",
                       .signedHeaders = "host;x-amz-date",
                       .signature = "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
                   });
    /* Query parameters sorted by name (bytes: uppercase first), then by value. */
    checkSuiteCase("get-vanilla-query-order-key-case",
                   &(SuiteCase){
                       .method = "GET", .path = "/",
                       .query = {{"Param2", "value2"}, {"Param1", "value1"}}, .queryCount = 2,
                       .headers = {HOST, XDATE}, .headerCount = 2,
                       .creq = "GET\n/\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\n"
                               "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" EMPTY_SHA256,
                       .signedHeaders = "host;x-amz-date",
                       .signature = "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
                   });
    checkSuiteCase("get-vanilla-query-order-key",
                   &(SuiteCase){
                       .method = "GET", .path = "/",
                       .query = {{"Param1", "value2"}, {"Param1", "Value1"}}, .queryCount = 2,
                       .headers = {HOST, XDATE}, .headerCount = 2,
                       .creq = "GET\n/\nParam1=Value1&Param1=value2\nhost:example.amazonaws.com\n"
                               "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" EMPTY_SHA256,
                       .signedHeaders = "host;x-amz-date",
                       .signature = "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1",
                   });
    checkSuiteCase("get-vanilla-query-order-value",
                   &(SuiteCase){
                       .method = "GET", .path = "/",
                       .query = {{"Param1", "value2"}, {"Param1", "value1"}}, .queryCount = 2,
                       .headers = {HOST, XDATE}, .headerCount = 2,
                       .signedHeaders = "host;x-amz-date",
                       .signature = "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694",
                   });
    checkSuiteCase("get-vanilla-query-unreserved",
                   &(SuiteCase){
                       .method = "GET", .path = "/",
                       .query = {{"-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                                  "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"}},
                       .queryCount = 1, .headers = {HOST, XDATE}, .headerCount = 2,
                       .signedHeaders = "host;x-amz-date",
                       .signature = "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197",
                   });
    /* A UTF-8 query name is percent-encoded byte by byte. */
    checkSuiteCase("get-vanilla-utf8-query",
                   &(SuiteCase){
                       .method = "GET", .path = "/", .query = {{"\xe1\x88\xb4", "bar"}},
                       .queryCount = 1, .headers = {HOST, XDATE}, .headerCount = 2,
                       .creq = "GET\n/\n%E1%88%B4=bar\nhost:example.amazonaws.com\n"
                               "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" EMPTY_SHA256,
                       .signedHeaders = "host;x-amz-date",
                       .signature = "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
                   });
    checkSuiteCase("get-unreserved",
                   &(SuiteCase){
                       .method = "GET",
                       .path = "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                       .headers = {HOST, XDATE}, .headerCount = 2,
                       .signedHeaders = "host;x-amz-date",
                       .signature = "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
                   });
    /* Repeated headers joined with ',' in their order; names sorted; values trimmed and their
     * inner blanks collapsed. */
    checkSuiteCase("get-header-key-duplicate",
                   &(SuiteCase){
                       .method = "GET", .path = "/",
                       .headers = {HOST, {"My-Header1", "value2"}, {"My-Header1", "value2"},
                                   {"My-Header1", "value1"}, XDATE},
                       .headerCount = 5,
                       .creq = "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value2,value2,value1\n"
                               "x-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n" EMPTY_SHA256,
                       .signedHeaders = "host;my-header1;x-amz-date",
                       .signature = "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
                   });
    checkSuiteCase("get-header-value-order",
                   &(SuiteCase){
                       .method = "GET", .path = "/",
                       .headers = {HOST, {"My-Header1", "value4"}, {"My-Header1", "value1"},
                                   {"My-Header1", "value3"}, {"My-Header1", "value2"}, XDATE},
                       .headerCount = 6,
                       .signedHeaders = "host;my-header1;x-amz-date",
                       .signature = "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01",
                   });
    checkSuiteCase("get-header-value-trim",
                   &(SuiteCase){
                       .method = "GET", .path = "/",
                       .headers = {HOST, {"My-Header1", " value1"}, {"My-Header2", " \"a   b   c\""},
                                   XDATE},
                       .headerCount = 4,
                       .creq = "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\n"
                               "my-header2:\"a b c\"\nx-amz-date:20150830T123600Z\n\n"
                               "host;my-header1;my-header2;x-amz-date\n" EMPTY_SHA256,
                       .signedHeaders = "host;my-header1;my-header2;x-amz-date",
                       .signature = "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
                   });
    checkSuiteCase("post-header-key-sort",
                   &(SuiteCase){
                       .method = "POST", .path = "/",
                       .headers = {HOST, {"My-Header1", "value1"}, XDATE}, .headerCount = 3,
                       .signedHeaders = "host;my-header1;x-amz-date",
                       .signature = "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c",
                   });
    checkSuiteCase("post-header-value-case",
                   &(SuiteCase){
                       .method = "POST", .path = "/",
                       .headers = {HOST, {"My-Header1", "VALUE1"}, XDATE}, .headerCount = 3,
                       .signedHeaders = "host;my-header1;x-amz-date",
                       .signature = "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d",
                   });
    /* Temporary credentials: the session token is a signed header. */
    checkSuiteCase("post-sts-header-before",
                   &(SuiteCase){
                       .method = "POST", .path = "/",
                       .headers = {HOST, XDATE,
                                   {"X-Amz-Security-Token",
                                    "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBu"
                                    "FqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBm"
                                    "Upp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAk"
                                    "iY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KS"
                                    "YvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="}},
                       .headerCount = 3,
                       .signedHeaders = "host;x-amz-date;x-amz-security-token",
                       .signature = "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead",
                   });
}

/* --- SigV4: the S3 examples of the AWS documentation -------------------------------------- */

#define S3DOC_KEY "AKIAIOSFODNN7EXAMPLE"
#define S3DOC_SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

static void
checkS3Doc(const char *method, const char *path, const S3KeyValue *query, size_t queryCount,
           const S3KeyValue *headers, size_t headerCount, const char *payloadHash, const char *creq,
           const char *stsHash, const char *signature) {
    S3SignInput in = {
        .method = method,
        .path = path,
        .query = query,
        .queryCount = queryCount,
        .headers = headers,
        .headerCount = headerCount,
        .payloadHash = payloadHash,
        .amzDate = "20130524T000000Z",
        .region = "us-east-1",
        .service = "s3",
        .accessKeyId = S3DOC_KEY,
        .secretAccessKey = S3DOC_SECRET,
    };
    S3Signature sig;
    char *sts = bvSprintf("AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n%s",
                          stsHash);

    s3Sign(&in, &sig);
    if (creq != NULL)
        CHECK_STR(sig.canonicalRequest, creq);
    CHECK_STR(sig.stringToSign, sts);
    CHECK_STR(sig.signature, signature);
    s3SignatureClear(&sig);
    bvFree(sts);
}

static void
testSigV4S3(void) {
    char *path = s3UriEncode("/test$file.text", true);

    /* GET Object, first 10 bytes. */
    checkS3Doc("GET", "/test.txt", NULL, 0,
               (S3KeyValue[]){{"Host", "examplebucket.s3.amazonaws.com"},
                              {"Range", "bytes=0-9"},
                              {"x-amz-content-sha256", EMPTY_SHA256},
                              {"x-amz-date", "20130524T000000Z"}},
               4, EMPTY_SHA256,
               "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
               "x-amz-content-sha256:" EMPTY_SHA256 "\nx-amz-date:20130524T000000Z\n\n"
               "host;range;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA256,
               "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972",
               "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    /* PUT Object: '$' of the key percent-encoded in the path, the real payload hash. */
    CHECK_STR(path, "/test%24file.text");
    checkS3Doc("PUT", path, NULL, 0,
               (S3KeyValue[]){{"Host", "examplebucket.s3.amazonaws.com"},
                              {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                              {"x-amz-date", "20130524T000000Z"},
                              {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
                              {"x-amz-content-sha256",
                               "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"}},
               5, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072", NULL,
               "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d",
               "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
    /* GET Bucket lifecycle: a parameter without a value is "name=". */
    checkS3Doc("GET", "/", (S3KeyValue[]){{"lifecycle", ""}}, 1,
               (S3KeyValue[]){{"Host", "examplebucket.s3.amazonaws.com"},
                              {"x-amz-date", "20130524T000000Z"},
                              {"x-amz-content-sha256", EMPTY_SHA256}},
               3, EMPTY_SHA256, NULL,
               "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca",
               "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
    /* List Objects. */
    checkS3Doc("GET", "/", (S3KeyValue[]){{"prefix", "J"}, {"max-keys", "2"}}, 2,
               (S3KeyValue[]){{"Host", "examplebucket.s3.amazonaws.com"},
                              {"x-amz-date", "20130524T000000Z"},
                              {"x-amz-content-sha256", EMPTY_SHA256}},
               3, EMPTY_SHA256,
               "GET\n/\nmax-keys=2&prefix=J\nhost:examplebucket.s3.amazonaws.com\n"
               "x-amz-content-sha256:" EMPTY_SHA256 "\nx-amz-date:20130524T000000Z\n\n"
               "host;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA256,
               "df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7",
               "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
    bvFree(path);
}

/* --- Encoding ----------------------------------------------------------------------------- */

static void
checkEncode(const char *in, bool keepSlash, const char *want) {
    char *got = s3UriEncode(in, keepSlash);

    CHECK_STR(got, want);
    bvFree(got);
}

static void
testUriEncode(void) {
    checkEncode("", true, "");
    checkEncode("seg/000001.lz4", true, "seg/000001.lz4");
    checkEncode("seg/000001.lz4", false, "seg%2F000001.lz4");
    checkEncode("a b+c=d&e*f%g~h", true, "a%20b%2Bc%3Dd%26e%2Af%25g~h");
    checkEncode("\xc3\xa9\xff\x01", true, "%C3%A9%FF%01");
    checkEncode("-._~AZaz09", false, "-._~AZaz09");
}

static void
testCanonicalQuery(void) {
    char *q;

    q = s3CanonicalQuery(NULL, 0);
    CHECK_STR(q, "");
    bvFree(q);
    /* A continuation token is opaque: '/', '+', '=' must be encoded. */
    q = s3CanonicalQuery((S3KeyValue[]){{"prefix", "pfx/seg/"},
                                        {"list-type", "2"},
                                        {"continuation-token", "1ab/c+d=="},
                                        {"max-keys", "1000"}},
                         4);
    CHECK_STR(q, "continuation-token=1ab%2Fc%2Bd%3D%3D&list-type=2&max-keys=1000&prefix=pfx%2Fseg%2F");
    bvFree(q);
    q = s3CanonicalQuery((S3KeyValue[]){{"uploadId", "x y"}, {"partNumber", "10"}, {"uploads", NULL}}, 3);
    CHECK_STR(q, "partNumber=10&uploadId=x%20y&uploads=");
    bvFree(q);
}

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

/* --- Errors ------------------------------------------------------------------------------- */

static void
testErrorClass(void) {
    Err err = {0};

    CHECK_INT(s3ErrorClass(403, "SignatureDoesNotMatch"), ERR_AUTH);
    CHECK_INT(s3ErrorClass(403, "AccessDenied"), ERR_AUTH);
    CHECK_INT(s3ErrorClass(403, "InvalidAccessKeyId"), ERR_AUTH);
    CHECK_INT(s3ErrorClass(400, "ExpiredToken"), ERR_AUTH);
    CHECK_INT(s3ErrorClass(403, NULL), ERR_AUTH); /* a refused HEAD */
    CHECK_INT(s3ErrorClass(404, "NoSuchBucket"), ERR_CONFIG);
    CHECK_INT(s3ErrorClass(301, "PermanentRedirect"), ERR_CONFIG);
    CHECK_INT(s3ErrorClass(301, NULL), ERR_CONFIG);
    CHECK_INT(s3ErrorClass(400, "AuthorizationHeaderMalformed"), ERR_CONFIG);
    CHECK_INT(s3ErrorClass(403, "RequestTimeTooSkewed"), ERR_CONFIG);
    CHECK_INT(s3ErrorClass(404, "NoSuchKey"), ERR_NOTFOUND);
    CHECK_INT(s3ErrorClass(404, NULL), ERR_NOTFOUND);
    CHECK_INT(s3ErrorClass(404, "NoSuchUpload"), ERR_STORAGE);
    CHECK_INT(s3ErrorClass(500, "InternalError"), ERR_STORAGE);
    CHECK_INT(s3ErrorClass(503, "SlowDown"), ERR_STORAGE);
    CHECK_INT(s3ErrorClass(503, NULL), ERR_STORAGE);
    CHECK_INT(s3ErrorClass(429, NULL), ERR_STORAGE);
    CHECK_INT(s3ErrorClass(400, "RequestTimeout"), ERR_STORAGE);
    CHECK_INT(s3ErrorClass(400, "BadDigest"), ERR_STORAGE);

    err.code = ERR_STORAGE;
    CHECK(storageErrorRetryable(&err));
    for (ErrCode c = ERR_NONE; c < ERR_CODE_MAX; c++) {
        err.code = c;
        if (c != ERR_STORAGE)
            CHECK(!storageErrorRetryable(&err));
    }
}

/* --- URLs, options, credentials ----------------------------------------------------------- */

static void
checkUrl(const char *url, const char *bucket, const char *prefix) {
    char *b = NULL, *p = NULL;
    Err err = {0};

    if (s3UrlParse(url, &b, &p, &err) != 0) {
        testFail(__FILE__, __LINE__, "'%s': %s", url, err.msg);
        return;
    }
    CHECK_STR(b, bucket);
    CHECK_STR(p, prefix);
    bvFree(b);
    bvFree(p);
}

static void
checkUrlBad(const char *url, const char *msgPart) {
    char *b = NULL, *p = NULL;
    Err err = {0};

    CHECK_INT(s3UrlParse(url, &b, &p, &err), -1);
    CHECK(b == NULL && p == NULL);
    CHECK_INT(err.code, ERR_USAGE);
    if (strstr(err.msg, msgPart) == NULL)
        testFail(__FILE__, __LINE__, "'%s': message '%s' lacks '%s'", url, err.msg, msgPart);
}

static void
testUrl(void) {
    checkUrl("s3://bucket", "bucket", "");
    checkUrl("s3://bucket/", "bucket", "");
    checkUrl("s3://my.bucket-1/db1/binlogs//", "my.bucket-1", "db1/binlogs");
    checkUrlBad("s3:/bucket", "expected 's3://bucket[/prefix]'");
    checkUrlBad("s3://", "bucket name");
    checkUrlBad("s3://ab", "bucket name");
    checkUrlBad("s3://Bucket", "bucket name");
    checkUrlBad("s3://-bucket", "bucket name");
    checkUrlBad("s3://user:pw@bucket", "bucket name");
    checkUrlBad("s3://bucket/a/../b", "'.' or '..'");
    checkUrlBad("s3://bucket/a b", "only A-Z");
}

/* Set or unset (NULL) an environment variable, remembering the old value for envRestore(). */
typedef struct EnvSave {
    const char *name;
    char *value;
} EnvSave;

static const char *const s3EnvNames[] = {
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "BINVAULT_S3_CREDENTIALS_FILE",
    "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE",
    "BINVAULT_S3_URI_STYLE", "BINVAULT_S3_CA_FILE", "AWS_CA_BUNDLE", "BINVAULT_S3_MULTIPART_THRESHOLD",
    "BINVAULT_S3_PART_SIZE", "BINVAULT_S3_LIST_PAGE",
};
#define S3_ENV_COUNT (sizeof(s3EnvNames) / sizeof(s3EnvNames[0]))

/* Clear every variable the driver reads; envRestore() puts them back. */
static void
envClear(EnvSave *save) {
    for (size_t i = 0; i < S3_ENV_COUNT; i++) {
        const char *v = getenv(s3EnvNames[i]);

        save[i].name = s3EnvNames[i];
        save[i].value = v ? bvStrdup(v) : NULL;
        unsetenv(s3EnvNames[i]);
    }
}

static void
envRestore(EnvSave *save) {
    for (size_t i = 0; i < S3_ENV_COUNT; i++) {
        if (save[i].value != NULL)
            setenv(save[i].name, save[i].value, 1);
        else
            unsetenv(save[i].name);
        bvFree(save[i].value);
    }
}

static void
testOptionsFromEnv(void) {
    EnvSave save[S3_ENV_COUNT];
    S3Options opts;
    Err err = {0};

    envClear(save);
    REQUIRE(s3OptionsFromEnv(&opts, "s3://bkt/a/b", &err) == 0);
    CHECK_STR(opts.bucket, "bkt");
    CHECK_STR(opts.prefix, "a/b");
    CHECK(opts.endpoint == NULL && opts.region == NULL && opts.accessKeyId == NULL);
    CHECK_INT(opts.uriStyle, S3_URI_STYLE_AUTO);
    s3OptionsFree(&opts);

    setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000", 1);
    setenv("AWS_ENDPOINT_URL_S3", "http://s3.local:9000", 1);
    setenv("AWS_DEFAULT_REGION", "eu-west-1", 1);
    setenv("AWS_REGION", "eu-central-1", 1);
    setenv("BINVAULT_S3_URI_STYLE", "host", 1);
    setenv("BINVAULT_S3_PART_SIZE", "8M", 1);
    setenv("BINVAULT_S3_MULTIPART_THRESHOLD", "1G", 1);
    setenv("BINVAULT_S3_LIST_PAGE", "7", 1);
    setenv("AWS_ACCESS_KEY_ID", "AK", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "SK", 1);
    REQUIRE(s3OptionsFromEnv(&opts, "s3://bkt", &err) == 0);
    CHECK_STR(opts.endpoint, "http://s3.local:9000");
    CHECK_STR(opts.region, "eu-central-1");
    CHECK_INT(opts.uriStyle, S3_URI_STYLE_HOST);
    CHECK(opts.partSize == 8ull << 20);
    CHECK(opts.multipartThreshold == 1ull << 30);
    CHECK_INT(opts.listPage, 7);
    CHECK_STR(opts.accessKeyId, "AK");
    CHECK_STR(opts.secretAccessKey, "SK");
    s3OptionsFree(&opts);

    setenv("BINVAULT_S3_PART_SIZE", "8X", 1);
    CHECK_INT(s3OptionsFromEnv(&opts, "s3://bkt", &err), -1);
    CHECK_INT(err.code, ERR_CONFIG);
    CHECK_MSG(err.msg, "BINVAULT_S3_PART_SIZE '8X'");
    CHECK(opts.bucket == NULL);
    unsetenv("BINVAULT_S3_PART_SIZE");
    setenv("BINVAULT_S3_LIST_PAGE", "1001", 1);
    CHECK_INT(s3OptionsFromEnv(&opts, "s3://bkt", &err), -1);
    CHECK_MSG(err.msg, "BINVAULT_S3_LIST_PAGE");
    unsetenv("BINVAULT_S3_LIST_PAGE");
    setenv("BINVAULT_S3_URI_STYLE", "virtual", 1);
    CHECK_INT(s3OptionsFromEnv(&opts, "s3://bkt", &err), -1);
    CHECK_MSG(err.msg, "BINVAULT_S3_URI_STYLE");
    envRestore(save);
}

static Storage *
newFromEnv(const char *url, Err *err) {
    return storageNew(url, err);
}

static void
testNewChecks(void) {
    EnvSave save[S3_ENV_COUNT];
    Storage *storage;
    Err err = {0};

    envClear(save);
    /* No credentials: a clear error naming where they may come from, and no request made. */
    CHECK(newFromEnv("s3://bucket/prefix", &err) == NULL);
    CHECK_INT(err.code, ERR_CONFIG);
    CHECK_MSG(err.msg, "no S3 credentials");
    CHECK_MSG(err.msg, "AWS_ACCESS_KEY_ID");
    setenv("AWS_ACCESS_KEY_ID", "AK", 1);
    CHECK(newFromEnv("s3://bucket/prefix", &err) == NULL);
    CHECK_INT(err.code, ERR_CONFIG);
    CHECK_MSG(err.msg, "AWS_SECRET_ACCESS_KEY");
    setenv("AWS_SECRET_ACCESS_KEY", "not-in-messages", 1);

    storage = newFromEnv("s3://bucket/prefix/", &err);
    REQUIRE(storage != NULL);
    CHECK_STR(storageUrl(storage), "s3://bucket/prefix");
    storageFree(storage);
    storage = newFromEnv("s3://bucket", &err);
    REQUIRE(storage != NULL);
    CHECK_STR(storageUrl(storage), "s3://bucket");
    storageFree(storage);

    CHECK(newFromEnv("s3://Bad_Bucket", &err) == NULL);
    CHECK_INT(err.code, ERR_USAGE);
    setenv("AWS_ENDPOINT_URL", "ftp://host", 1);
    CHECK(newFromEnv("s3://bucket", &err) == NULL);
    CHECK_INT(err.code, ERR_CONFIG);
    CHECK_MSG(err.msg, "invalid S3 endpoint 'ftp://host'");
    setenv("AWS_ENDPOINT_URL", "https://user:pw@host", 1);
    CHECK(newFromEnv("s3://bucket", &err) == NULL);
    CHECK_MSG(err.msg, "invalid S3 endpoint");
    setenv("AWS_ENDPOINT_URL", "https://host:9000/base/", 1);
    storage = newFromEnv("s3://bucket", &err);
    CHECK(storage != NULL);
    storageFree(storage);
    setenv("AWS_REGION", "us east", 1);
    CHECK(newFromEnv("s3://bucket", &err) == NULL);
    CHECK_MSG(err.msg, "invalid S3 region");
    unsetenv("AWS_REGION");
    setenv("BINVAULT_S3_PART_SIZE", "4M", 1);
    CHECK(newFromEnv("s3://bucket", &err) == NULL);
    CHECK_MSG(err.msg, "part size");
    unsetenv("BINVAULT_S3_PART_SIZE");
    setenv("BINVAULT_S3_CA_FILE", "/nonexistent/ca.pem", 1);
    CHECK(newFromEnv("s3://bucket", &err) == NULL);
    CHECK_MSG(err.msg, "'/nonexistent/ca.pem'");
    CHECK(strstr(err.msg, "not-in-messages") == NULL);
    envRestore(save);
}

static char *
writeCredentials(const char *text, mode_t mode) {
    char *path = bvSprintf("%s/credentials", testTmpDir());
    FILE *f = fopen(path, "w");

    BV_ASSERT(f != NULL);
    fputs(text, f);
    fclose(f);
    BV_ASSERT(chmod(path, mode) == 0);
    return path;
}

static void
testCredentialsFile(void) {
    EnvSave save[S3_ENV_COUNT];
    Storage *storage;
    Err err = {0};
    char *path;

    envClear(save);
    path = writeCredentials("# binvault\n[other]\naws_access_key_id = OTHER\n"
                            "aws_secret_access_key = other\n\n[default]\n"
                            "aws_access_key_id=AKIA1\r\n  aws_secret_access_key =  s3cr3t/+x  \n"
                            "; comment\nregion = ignored\n",
                            0600);
    setenv("BINVAULT_S3_CREDENTIALS_FILE", path, 1);
    storage = newFromEnv("s3://bucket", &err);
    CHECK(storage != NULL);
    storageFree(storage);

    /* A file others may read is refused, and the message says how to fix it. */
    BV_ASSERT(chmod(path, 0640) == 0);
    CHECK(newFromEnv("s3://bucket", &err) == NULL);
    CHECK_INT(err.code, ERR_CONFIG);
    CHECK_MSG(err.msg, "accessible by group or others (mode 0640)");
    CHECK_MSG(err.msg, "chmod 600");
    BV_ASSERT(chmod(path, 0604) == 0);
    CHECK(newFromEnv("s3://bucket", &err) == NULL);
    CHECK_INT(err.code, ERR_CONFIG);
    bvFree(path);

    /* The profile is chosen with AWS_PROFILE; a profile without keys is an error. */
    path = writeCredentials("[default]\naws_access_key_id = A\n", 0600);
    CHECK(newFromEnv("s3://bucket", &err) == NULL);
    CHECK(strstr(err.msg, "no aws_access_key_id and aws_secret_access_key for profile 'default'") !=
          NULL);
    setenv("AWS_PROFILE", "prod", 1);
    CHECK(newFromEnv("s3://bucket", &err) == NULL);
    CHECK_MSG(err.msg, "profile 'prod'");
    bvFree(path);
    path = writeCredentials("[prod]\naws_access_key_id = P\naws_secret_access_key = hidden-value\n"
                            "garbage line\n", 0600);
    CHECK(newFromEnv("s3://bucket", &err) == NULL);
    CHECK_MSG(err.msg, "invalid line 4");
    CHECK(strstr(err.msg, "hidden-value") == NULL);
    bvFree(path);

    setenv("BINVAULT_S3_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
    CHECK(newFromEnv("s3://bucket", &err) == NULL);
    CHECK_INT(err.code, ERR_CONFIG);
    CHECK_MSG(err.msg, "'/nonexistent/credentials'");
    envRestore(save);
}


/* --- HTTP transport (storage/http.c) against a canned local server ------------------------- */

/* A server answering each connection with `reply` after reading the request (and its body, by
 * Content-Length), or holding it silent for `stallSec` seconds. */
typedef struct CannedServer {
    int listenFd;
    unsigned port;
    const char *reply;
    size_t replyLen;
    unsigned stallSec;
    int connections;
    Buf *request; /* the last request received, headers and body */
    pthread_t thread;
} CannedServer;

static void *
cannedServe(void *arg) {
    CannedServer *srv = arg;

    for (int i = 0; i < srv->connections; i++) {
        int fd = accept(srv->listenFd, NULL, NULL);
        char buf[4096];
        size_t want = 0;
        const char *end;

        if (fd < 0)
            break;
        bufClear(srv->request);
        for (;;) {
            ssize_t n = read(fd, buf, sizeof(buf));

            if (n <= 0)
                break;
            bufAppend(srv->request, buf, (size_t)n);
            end = memmem(srv->request->data, srv->request->len, "\r\n\r\n", 4);
            if (end != NULL && want == 0) {
                const char *cl = memmem(srv->request->data, srv->request->len, "Content-Length: ", 16);

                want = (size_t)(end - (const char *)srv->request->data) + 4;
                if (cl != NULL && cl < end)
                    want += (size_t)strtoul(cl + 16, NULL, 10);
                if (memmem(srv->request->data, srv->request->len, "Expect: 100-continue", 20))
                    (void)!send(fd, "HTTP/1.1 100 Continue\r\n\r\n", 25, MSG_NOSIGNAL);
            }
            if (want > 0 && srv->request->len >= want)
                break;
        }
        if (srv->stallSec > 0)
            sleep(srv->stallSec);
        else
            (void)!send(fd, srv->reply, srv->replyLen, MSG_NOSIGNAL); /* the client may be gone */
        close(fd);
    }
    return NULL;
}

static void
cannedStart(CannedServer *srv, const char *reply, size_t replyLen, int connections) {
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(addr);

    srv->listenFd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    BV_ASSERT(srv->listenFd >= 0);
    BV_ASSERT(bind(srv->listenFd, (struct sockaddr *)&addr, sizeof(addr)) == 0);
    BV_ASSERT(listen(srv->listenFd, 4) == 0);
    BV_ASSERT(getsockname(srv->listenFd, (struct sockaddr *)&addr, &len) == 0);
    srv->port = ntohs(addr.sin_port);
    srv->reply = reply;
    srv->replyLen = replyLen;
    srv->connections = connections;
    srv->request = bufNew(0);
    BV_ASSERT(pthread_create(&srv->thread, NULL, cannedServe, srv) == 0);
}

static void
cannedStop(CannedServer *srv) {
    pthread_join(srv->thread, NULL);
    close(srv->listenFd);
    bufFree(srv->request);
}

static int
httpGet(Http *http, unsigned port, const char *method, size_t maxBody, HttpResponse *resp,
        Err *err) {
    char url[64];
    const char *headers[] = {"X-Mine: 1"};
    HttpRequest req = {.method = method, .url = url, .headers = headers, .headerCount = 1,
                       .maxBody = maxBody};

    snprintf(url, sizeof(url), "http://127.0.0.1:%u/b/k", port);
    return httpRequest(http, &req, resp, err);
}

static void
testHttpResponses(void) {
    static const char ok[] = "HTTP/1.1 200 OK\r\nX-Test:  a b \r\nETag: \"e\"\r\nContent-Length: 5\r\n"
                             "\r\nhello";
    HttpOptions opts = {.allowHttp = true};
    Http *http;
    HttpResponse resp;
    CannedServer srv = {0};
    Err err = {0};

    http = httpNew(&opts, &err);
    REQUIRE(http != NULL);
    httpResponseInit(&resp);
    cannedStart(&srv, ok, sizeof(ok) - 1, 2);
    REQUIRE(httpGet(http, srv.port, "GET", 100, &resp, &err) == 0);
    CHECK_INT(resp.status, 200);
    CHECK_STR(httpResponseHeader(&resp, "x-test"), "a b");
    CHECK_STR(httpResponseHeader(&resp, "ETAG"), "\"e\"");
    CHECK(httpResponseHeader(&resp, "x-none") == NULL);
    CHECK_INT(resp.body->len, 5);
    CHECK(memcmp(resp.body->data, "hello", 5) == 0);
    CHECK(memmem(srv.request->data, srv.request->len, "GET /b/k HTTP/1.1\r\n", 19) != NULL);
    CHECK(memmem(srv.request->data, srv.request->len, "X-Mine: 1\r\n", 11) != NULL);
    /* A 2xx body larger than the caller allows. */
    CHECK_INT(httpGet(http, srv.port, "GET", 3, &resp, &err), -1);
    CHECK_INT(err.code, ERR_LIMIT);
    cannedStop(&srv);
    httpResponseClear(&resp);
    httpFree(http);
}

static void
testHttpErrorBody(void) {
    size_t bodyLen = 3 * HTTP_ERROR_BODY_MAX;
    char *reply = bvMalloc(bodyLen + 100);
    int head = snprintf(reply, 100, "HTTP/1.1 503 Slow Down\r\nContent-Length: %zu\r\n\r\n", bodyLen);
    HttpOptions opts = {.allowHttp = true};
    Http *http;
    HttpResponse resp;
    CannedServer srv = {0};
    Err err = {0};

    memset(reply + head, 'e', bodyLen);
    http = httpNew(&opts, &err);
    REQUIRE(http != NULL);
    httpResponseInit(&resp);
    cannedStart(&srv, reply, (size_t)head + bodyLen, 1);
    REQUIRE(httpGet(http, srv.port, "GET", 10, &resp, &err) == 0);
    CHECK_INT(resp.status, 503);
    CHECK_INT(resp.body->len, HTTP_ERROR_BODY_MAX);
    cannedStop(&srv);
    httpResponseClear(&resp);
    httpFree(http);
    bvFree(reply);
}

/* A body reader that fails after some bytes. */
typedef struct FailingBody {
    int opened;
} FailingBody;

static ssize_t
failingRead(void *ctx, uint8_t *buf, size_t len, Err *err) {
    (void)ctx;
    (void)buf;
    (void)len;
    return errSet(err, ERR_CHECKSUM, "the body does not match its description");
}

static void
failingFree(void *ctx) {
    (void)ctx;
}

static const IoReadVt failingVt = {.name = "failing", .read = failingRead, .free = failingFree};

static IoRead *
failingOpen(void *ctx, Err *err) {
    FailingBody *fb = ctx;

    (void)err;
    fb->opened++;
    return ioReadNew(&failingVt, fb);
}

static void
testHttpBodies(void) {
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    HttpOptions opts = {.allowHttp = true};
    Http *http;
    HttpResponse resp;
    CannedServer srv = {0};
    FailingBody fb = {0};
    char url[64];
    Err err = {0};

    http = httpNew(&opts, &err);
    REQUIRE(http != NULL);
    httpResponseInit(&resp);
    cannedStart(&srv, ok, sizeof(ok) - 1, 2);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/b/k", srv.port);
    {
        HttpRequest req = {.method = "PUT", .url = url, .body = "0123456789", .bodyLen = 10};

        REQUIRE(httpRequest(http, &req, &resp, &err) == 0);
        CHECK_INT(resp.status, 200);
        CHECK(memmem(srv.request->data, srv.request->len, "PUT /b/k HTTP/1.1\r\n", 19) != NULL);
        CHECK(memmem(srv.request->data, srv.request->len, "Content-Length: 10\r\n", 20) != NULL);
        CHECK(srv.request->len > 10 &&
              memcmp(srv.request->data + srv.request->len - 10, "0123456789", 10) == 0);
    }
    {
        /* The reader's error comes back unchanged: the caller knows what it means. */
        HttpRequest req = {.method = "POST", .url = url, .bodyOpen = failingOpen, .bodyCtx = &fb,
                           .bodyLen = 100};

        CHECK_INT(httpRequest(http, &req, &resp, &err), -1);
        CHECK_INT(err.code, ERR_CHECKSUM);
        CHECK_STR(err.msg, "the body does not match its description");
        CHECK_INT(fb.opened, 1);
    }
    cannedStop(&srv);
    httpResponseClear(&resp);
    httpFree(http);
}

static void
testHttpTransportErrors(void) {
    HttpOptions opts = {.allowHttp = true, .stallTimeoutSec = 1};
    HttpOptions httpsOnly = {0};
    HttpResponse resp;
    CannedServer srv = {0};
    Http *http;
    Err err = {0};
    int fd;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(addr);
    unsigned closedPort;

    /* A port nobody listens on: bound, then closed. */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    BV_ASSERT(fd >= 0 && bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0);
    BV_ASSERT(getsockname(fd, (struct sockaddr *)&addr, &len) == 0);
    closedPort = ntohs(addr.sin_port);
    close(fd);

    httpResponseInit(&resp);
    http = httpNew(&opts, &err);
    REQUIRE(http != NULL);
    CHECK_INT(httpGet(http, closedPort, "GET", 10, &resp, &err), -1);
    CHECK_INT(err.code, ERR_STORAGE);
    CHECK(strncmp(err.msg, "curl error 7 (couldn't connect to server): ", 43) == 0);
    /* A server that accepts and says nothing: the stall limit ends the wait. */
    srv.stallSec = 2;
    cannedStart(&srv, "", 0, 1);
    CHECK_INT(httpGet(http, srv.port, "GET", 10, &resp, &err), -1);
    CHECK_INT(err.code, ERR_STORAGE);
    CHECK(strncmp(err.msg, "curl error 28 ", 14) == 0);
    cannedStop(&srv);
    httpFree(http);

    /* Plain http is refused unless the endpoint asked for it. */
    http = httpNew(&httpsOnly, &err);
    REQUIRE(http != NULL);
    CHECK_INT(httpGet(http, closedPort, "GET", 10, &resp, &err), -1);
    CHECK_INT(err.code, ERR_CONFIG);
    CHECK(strncmp(err.msg, "curl error 1 ", 13) == 0);
    httpFree(http);
    httpResponseClear(&resp);
}

static void
testHttpPool(void) {
    HttpOptions opts = {0};
    HttpPool *pool = httpPoolNew(&opts);
    Http *a, *b, *c;
    Err err = {0};

    a = httpPoolGet(pool, &err);
    b = httpPoolGet(pool, &err);
    REQUIRE(a != NULL && b != NULL);
    CHECK(a != b);
    httpPoolPut(pool, a);
    c = httpPoolGet(pool, &err);
    CHECK(c == a); /* reused: its connections with it */
    httpPoolPut(pool, b);
    httpPoolPut(pool, c);
    httpPoolPut(pool, NULL);
    httpPoolFree(pool);
}

void
suite_s3(void) {
    testRun("s3: SigV4 test suite (get-vanilla ...)", testSigV4Suite);
    testRun("s3: SigV4 S3 examples", testSigV4S3);
    testRun("s3: URI encoding", testUriEncode);
    testRun("s3: canonical query", testCanonicalQuery);
    testRun("s3: XML text", testXmlText);
    testRun("s3: XML hostile input", testXmlHostile);
    testRun("s3: ListObjectsV2 page", testListParse);
    testRun("s3: ListObjectsV2 page, hostile", testListHostile);
    testRun("s3: ListObjectsV2 page, truncated and corrupted", testListTruncatedAndCorrupted);
    testRun("s3: error body", testErrorParse);
    testRun("s3: error classes", testErrorClass);
    testRun("s3: urls", testUrl);
    testRun("s3: options from the environment", testOptionsFromEnv);
    testRun("s3: opening checks", testNewChecks);
    testRun("s3: credentials file", testCredentialsFile);
    testRun("s3: http responses", testHttpResponses);
    testRun("s3: http error body", testHttpErrorBody);
    testRun("s3: http request bodies", testHttpBodies);
    testRun("s3: http transport errors", testHttpTransportErrors);
    testRun("s3: http handle pool", testHttpPool);
}
