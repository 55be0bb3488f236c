/*
 * The S3 driver's settings: the s3:// URL, the S3 members of StorageOptions turned into
 * S3Options (values only: the storage layer never reads the environment, the command layer
 * does), the endpoint and URI style, and the credentials, given or read from a 0600 credentials
 * file. Credentials never appear in messages.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/mem.h"
#include "common/opt.h"
#include "storage/s3_internal.h"

/* A credentials file larger than this is not one. */
#define S3_CREDENTIALS_MAX (64 * 1024)

/* --- URL and options ---------------------------------------------------------------------- */

bool
s3BucketValid(const char *bucket, size_t len) {
    if (len < 3 || len > 63)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = bucket[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

        if (!alnum && ((c != '.' && c != '-') || i == 0 || i == len - 1))
            return false;
    }
    return true;
}

int
s3UrlParse(const char *url, char **bucket, char **prefix, Err *err) {
    const char *rest, *slash;
    size_t bucketLen, prefixLen;
    Err nameErr;

    *bucket = *prefix = NULL;
    if (strncmp(url, "s3://", 5) != 0)
        return errSet(err, ERR_USAGE, "invalid s3 url '%s': expected 's3://bucket[/prefix]'", url);
    rest = url + 5;
    slash = strchr(rest, '/');
    bucketLen = slash ? (size_t)(slash - rest) : strlen(rest);
    if (!s3BucketValid(rest, bucketLen))
        return errSet(err, ERR_USAGE,
                      "invalid s3 url '%s': the bucket name must be 3 to 63 characters of a-z 0-9 "
                      ". -, starting and ending with a letter or digit", url);
    prefixLen = slash ? strlen(slash + 1) : 0;
    while (prefixLen > 0 && slash[prefixLen] == '/')
        prefixLen--;
    *prefix = bvStrndup(slash ? slash + 1 : "", prefixLen);
    if (prefixLen > 0 && storageNameValid(*prefix, &nameErr) != 0) {
        errSet(err, ERR_USAGE, "invalid s3 url '%s': the prefix is not a valid object name: %s",
               url, nameErr.msg);
        bvFree(*prefix);
        *prefix = NULL;
        return -1;
    }
    *bucket = bvStrndup(rest, bucketLen);
    return 0;
}

/* A size setting ("16M"; the suffixes of common/opt.h), named in messages by `name`. */
static int
s3SizeSetting(const char *text, const char *name, uint64_t *out, Err *err) {
    int64_t v;

    if (text == NULL)
        return 0;
    if (optParseSize(text, &v) != 0 || v <= 0)
        return errSet(err, ERR_CONFIG, "invalid %s '%s': expected a size such as 16M", name, text);
    *out = (uint64_t)v;
    return 0;
}

/* A count setting from 1 to `max` (`unit` follows it in messages), named by `name`. */
static int
s3CountSetting(const char *text, const char *name, unsigned max, const char *unit, unsigned *out,
               Err *err) {
    uint64_t v;

    if (text == NULL)
        return 0;
    if (s3ParseU64(text, &v) != 0 || v < 1 || v > max)
        return errSet(err, ERR_CONFIG, "invalid %s '%s': expected 1 to %u%s", name, text, max,
                      unit);
    *out = (unsigned)v;
    return 0;
}

int
s3OptionsFromStorage(S3Options *opts, const char *url, const StorageOptions *so, Err *err) {
    static const StorageOptions none = {0};
    char *bucket, *prefix;

    memset(opts, 0, sizeof(*opts));
    if (so == NULL)
        so = &none;
    if (s3UrlParse(url, &bucket, &prefix, err) != 0)
        return -1;
    opts->bucket = bucket;
    opts->prefix = prefix;
    opts->endpoint = so->s3Endpoint;
    opts->region = so->s3Region;
    opts->caFile = so->s3CaFile;
    opts->accessKeyId = so->s3AccessKeyId;
    opts->secretAccessKey = so->s3SecretAccessKey;
    opts->sessionToken = so->s3SessionToken;
    opts->credentialsFile = so->s3CredentialsFile;
    opts->profile = so->s3Profile;
    if (so->s3UriStyle != NULL) {
        if (strcmp(so->s3UriStyle, "path") == 0) {
            opts->uriStyle = S3_URI_STYLE_PATH;
        } else if (strcmp(so->s3UriStyle, "host") == 0) {
            opts->uriStyle = S3_URI_STYLE_HOST;
        } else {
            errSet(err, ERR_USAGE, "invalid S3 URI style '%s' (--s3-uri-style or "
                   "BINVAULT_S3_URI_STYLE): expected 'path' or 'host'", so->s3UriStyle);
            goto fail;
        }
    }
    /* The command line has no flags for these: the environment is where the user set them. */
    if (s3SizeSetting(so->s3MultipartThreshold, "BINVAULT_S3_MULTIPART_THRESHOLD",
                      &opts->multipartThreshold, err) != 0 ||
        s3SizeSetting(so->s3PartSize, "BINVAULT_S3_PART_SIZE", &opts->partSize, err) != 0 ||
        s3CountSetting(so->s3ListPage, "BINVAULT_S3_LIST_PAGE", S3_LIST_PAGE_MAX, "",
                       &opts->listPage, err) != 0 ||
        s3CountSetting(so->s3StallTimeout, "BINVAULT_S3_STALL_TIMEOUT", 3600, " seconds",
                       &opts->stallTimeoutSec, err) != 0)
        goto fail;
    return 0;
fail:
    s3OptionsFree(opts);
    return -1;
}

void
s3OptionsFree(S3Options *opts) {
    bvFree((char *)opts->bucket);
    bvFree((char *)opts->prefix);
    opts->bucket = opts->prefix = NULL;
}

int
s3EndpointSet(S3 *this, const char *endpoint, S3UriStyle style, Err *err) {
    const char *rest, *slash;
    size_t authLen, pathLen;
    char *authority;

    if (strncasecmp(endpoint, "https://", 8) == 0) {
        this->scheme = bvStrdup("https");
        rest = endpoint + 8;
    } else if (strncasecmp(endpoint, "http://", 7) == 0) {
        this->scheme = bvStrdup("http");
        rest = endpoint + 7;
    } else {
        return errSet(err, ERR_CONFIG, "invalid S3 endpoint '%s': expected "
                      "'https://host[:port][/path]' or 'http://...'", endpoint);
    }
    slash = strchr(rest, '/');
    authLen = slash ? (size_t)(slash - rest) : strlen(rest);
    pathLen = slash ? strlen(slash) : 0;
    while (pathLen > 0 && slash[pathLen - 1] == '/')
        pathLen--;
    if (authLen == 0 || strspn(rest, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "0123456789.-:[]") != authLen ||
        (pathLen > 0 && strspn(slash, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                      "0123456789-._~/") < pathLen))
        return errSet(err, ERR_CONFIG, "invalid S3 endpoint '%s': expected "
                      "'https://host[:port][/path]' (no user, query or special characters)",
                      endpoint);
    this->endpoint = bvStrdup(endpoint);
    this->basePath = bvStrndup(slash ? slash : "", pathLen);
    this->pathStyle = style == S3_URI_STYLE_PATH ||
                      (style == S3_URI_STYLE_AUTO &&
                       (strstr(this->endpoint, "amazonaws.com") == NULL ||
                        strchr(this->bucket, '.') != NULL));
    authority = bvStrndup(rest, authLen);
    this->authority = this->pathStyle ? bvStrdup(authority)
                                      : bvSprintf("%s.%s", this->bucket, authority);
    bvFree(authority);
    /* curl leaves a default port out of Host; the signature must match what is sent. */
    this->hostHeader = bvStrdup(this->authority);
    {
        size_t len = strlen(this->hostHeader);
        const char *dflt = strcmp(this->scheme, "https") == 0 ? ":443" : ":80";

        if (len > strlen(dflt) && strcmp(this->hostHeader + len - strlen(dflt), dflt) == 0)
            this->hostHeader[len - strlen(dflt)] = '\0';
    }
    return 0;
}

/* --- Credentials -------------------------------------------------------------------------- */

static void
s3SecretFree(char *secret) {
    if (secret != NULL) {
        explicit_bzero(secret, strlen(secret));
        bvFree(secret);
    }
}

void
s3CredentialsClear(S3Credentials *cred) {
    s3SecretFree(cred->accessKeyId);
    s3SecretFree(cred->secretAccessKey);
    s3SecretFree(cred->sessionToken);
    memset(cred, 0, sizeof(*cred));
}

/* Trim blanks (and a CR) at both ends of [*s, *s + *len). */
static void
s3Trim(const char **s, size_t *len) {
    while (*len > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t' || (*s)[*len - 1] == '\r'))
        (*len)--;
}

/* Read the credentials file: "name = value" lines of the wanted profile (or before any section).
 * Values are never quoted in messages. */
static int
s3CredentialsRead(const char *path, const char *profile, S3Credentials *cred, Err *err) {
    struct stat st;
    uint8_t *data = NULL;
    size_t len = 0, lineNo = 0;
    bool inProfile = true;
    const char *p, *end;
    int fd, rc = -1;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return errSetSys(err, ERR_CONFIG, errno, "unable to open the credentials file '%s'", path);
    if (fstat(fd, &st) != 0) {
        errSetSys(err, ERR_CONFIG, errno, "unable to stat the credentials file '%s'", path);
        close(fd);
        return -1;
    }
    close(fd);
    if (!S_ISREG(st.st_mode))
        return errSet(err, ERR_CONFIG, "the credentials file '%s' is not a regular file", path);
    if ((st.st_mode & 077) != 0)
        return errSet(err, ERR_CONFIG,
                      "the credentials file '%s' is accessible by group or others (mode %04o): "
                      "it must be readable by its owner only (chmod 600 '%s')",
                      path, (unsigned)(st.st_mode & 07777), path);
    if (fsReadFile(path, S3_CREDENTIALS_MAX, &data, &len, err) != 0) {
        err->code = ERR_CONFIG;
        return errPrefix(err, "unable to read the credentials file '%s'", path);
    }
    p = (const char *)data;
    end = p + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line = p, *eq;
        size_t lineLen = nl ? (size_t)(nl - p) : (size_t)(end - p);
        const char *name, *value;
        size_t nameLen, valueLen;
        char **slot = NULL;

        p = nl ? nl + 1 : end;
        lineNo++;
        s3Trim(&line, &lineLen);
        if (lineLen == 0 || line[0] == '#' || line[0] == ';')
            continue;
        if (line[0] == '[') {
            const char *section = line + 1;
            size_t sectionLen = lineLen - 1;

            if (line[lineLen - 1] != ']') {
                errSet(err, ERR_CONFIG, "invalid line %zu of the credentials file '%s'", lineNo,
                       path);
                goto out;
            }
            sectionLen--;
            s3Trim(&section, &sectionLen);
            inProfile = sectionLen == strlen(profile) && memcmp(section, profile, sectionLen) == 0;
            continue;
        }
        eq = memchr(line, '=', lineLen);
        if (eq == NULL) {
            errSet(err, ERR_CONFIG, "invalid line %zu of the credentials file '%s': expected "
                   "'name = value'", lineNo, path);
            goto out;
        }
        if (!inProfile)
            continue;
        name = line;
        nameLen = (size_t)(eq - line);
        value = eq + 1;
        valueLen = lineLen - nameLen - 1;
        s3Trim(&name, &nameLen);
        s3Trim(&value, &valueLen);
        if (nameLen == strlen("aws_access_key_id") && memcmp(name, "aws_access_key_id", nameLen) == 0)
            slot = &cred->accessKeyId;
        else if (nameLen == strlen("aws_secret_access_key") &&
                 memcmp(name, "aws_secret_access_key", nameLen) == 0)
            slot = &cred->secretAccessKey;
        else if (nameLen == strlen("aws_session_token") &&
                 memcmp(name, "aws_session_token", nameLen) == 0)
            slot = &cred->sessionToken;
        if (slot == NULL || valueLen == 0)
            continue;
        s3SecretFree(*slot);
        *slot = bvStrndup(value, valueLen);
    }
    if (cred->accessKeyId == NULL || cred->secretAccessKey == NULL) {
        errSet(err, ERR_CONFIG,
               "the credentials file '%s' has no aws_access_key_id and aws_secret_access_key for "
               "profile '%s'", path, profile);
        goto out;
    }
    rc = 0;
out:
    explicit_bzero(data, len);
    bvFree(data);
    if (rc != 0)
        s3CredentialsClear(cred);
    return rc;
}

int
s3CredentialsGet(const S3Options *opts, S3Credentials *cred, Err *err) {
    memset(cred, 0, sizeof(*cred));
    if (opts->accessKeyId != NULL) {
        if (opts->secretAccessKey == NULL)
            return errSet(err, ERR_CONFIG,
                          "an S3 access key id is set (AWS_ACCESS_KEY_ID) but no secret access "
                          "key (AWS_SECRET_ACCESS_KEY)");
        cred->accessKeyId = bvStrdup(opts->accessKeyId);
        cred->secretAccessKey = bvStrdup(opts->secretAccessKey);
        cred->sessionToken = opts->sessionToken ? bvStrdup(opts->sessionToken) : NULL;
        return 0;
    }
    if (opts->credentialsFile != NULL)
        return s3CredentialsRead(opts->credentialsFile, opts->profile ? opts->profile : "default",
                                 cred, err);
    return errSet(err, ERR_CONFIG,
                  "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and "
                  "AWS_SESSION_TOKEN for temporary credentials), or BINVAULT_S3_CREDENTIALS_FILE");
}
