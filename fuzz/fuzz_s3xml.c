/*
 * libFuzzer target for the S3 response parsers (storage/s3_xml.c, declared in storage/s3.h):
 * ListObjectsV2 pages (s3ListParse), error bodies (s3ErrorParse, s3ErrorClass), and the XML
 * primitives every other response goes through (s3XmlText, s3XmlNext) with the tags the driver
 * asks for (UploadId, Upload/Key/UploadId/Initiated, IsTruncated, NextKeyMarker...).
 * Seeds: fuzz/seeds-s3xml/ (responses as AWS S3 and OpenStack Swift send them).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "storage/s3.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const tags[] = {"Contents", "Key", "Size", "IsTruncated", "NextContinuationToken", "Code",
                                   "Message", "UploadId", "Upload", "Initiated", "NextKeyMarker",
                                   "NextUploadIdMarker", "ListBucketResult", "Error"};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *xml = (const char *)data;
    S3ListPage page;
    char *code, *message, *text;
    Err err;

    if (s3ListParse(xml, size, &page, &err) == 0) {
        for (size_t i = 0; i < page.count; i++)
            if (page.entries[i].key == NULL || strlen(page.entries[i].key) > S3_XML_TEXT_MAX)
                abort();
        if (page.truncated && (page.nextToken == NULL || page.nextToken[0] == '\0'))
            abort();
        s3ListPageClear(&page);
    }
    s3ErrorParse(xml, size, &code, &message);
    s3ErrorClass(size % 2 ? 503 : 403, code);
    bvFree(code);
    bvFree(message);
    for (size_t t = 0; t < sizeof(tags) / sizeof(tags[0]); t++) {
        size_t pos = 0, guard = 0;
        const char *content;
        size_t contentLen;
        int rc;

        if (s3XmlText(xml, size, tags[t], &text, &err) == 1) {
            if (strlen(text) > S3_XML_TEXT_MAX)
                abort();
            bvFree(text);
        }
        while ((rc = s3XmlNext(xml, size, tags[t], &pos, &content, &contentLen, &err)) == 1) {
            /* Progress and bounds: the content lies inside the input, and pos moves forward. */
            if (content < xml || content + contentLen > xml + size || pos > size || ++guard > size + 1)
                abort();
            if (s3XmlText(content, contentLen, "Key", &text, &err) == 1)
                bvFree(text);
        }
    }
    return 0;
}
