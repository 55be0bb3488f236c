/* Unit tests of storage/s3_sign.c: SigV4 against AWS's published examples (the Signature
 * Version 4 test suite and the S3 examples), URI and query encoding. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "storage/s3.h"
#include "tests/test.h"

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

void
suite_s3_sign(void) {
    testRun("s3: SigV4 test suite (get-vanilla ...)", testSigV4Suite);
    testRun("s3: SigV4 S3 examples", testSigV4S3);
    testRun("s3: URI encoding", testUriEncode);
    testRun("s3: canonical query", testCanonicalQuery);
}
