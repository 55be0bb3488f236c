/*
 * The raw-read baseline of the catch-up benchmarks: what the server can send. A replica-protocol
 * reader that does nothing but read packets: it connects with Connector/C, asks for the binlog
 * from FILE:4 without blocking at the end (COM_BINLOG_DUMP flag 1) and with ANNOTATE_ROWS events,
 * as binvault's agent does, and counts packets and bytes until the server's EOF. No parsing, no
 * checksum, no copy: every catch-up figure of `make bench` is reported as a fraction of this.
 * With `socket` after FILE it reads the socket itself into a 256 KiB buffer once the dump command
 * is sent, as binvault's stream does on a plain connection (mysql/stream.c), instead of
 * Connector/C's 16 KiB read-ahead and its copy of every packet.
 *
 *   rawread HOST PORT USER FILE [socket]     (password from BINVAULT_SOURCE_PASSWORD)
 *
 * Prints "bytes events seconds" on one line.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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

/* Count the packets of the stream read from the socket itself, up to the server's EOF packet:
 * 0 on success, -1 on an error packet (printed) or when the connection ends first. */
static int
readSocket(int fd, uint64_t *bytes, uint64_t *events) {
    static unsigned char buf[256 << 10];
    size_t have = 0, off = 0, skip = 0;

    for (;;) {
        ssize_t n;

        while (skip == 0 && have - off >= 4) {
            size_t len = buf[off] | (size_t)buf[off + 1] << 8 | (size_t)buf[off + 2] << 16;

            if (len + 4 > have - off) {
                if (len + 4 <= sizeof(buf))
                    break; /* the rest of the packet comes with the next read */
                /* Larger than the buffer: counted now, its bytes dropped as they come. */
                skip = len + 4 - (have - off);
                off = have;
            } else {
                if (len > 0 && len < 9 && buf[off + 4] == 0xfe)
                    return 0;
                if (len > 3 && buf[off + 4] == 0xff) {
                    fprintf(stderr, "rawread: read: %.*s\n", (int)(len - 3), (const char *)buf + off + 7);
                    return -1;
                }
                off += 4 + len;
            }
            *bytes += len;
            if (len < 0xffffff) {
                (*bytes)--; /* the OK byte of the logical packet */
                (*events)++;
            }
        }
        memmove(buf, buf + off, have - off);
        have -= off;
        off = 0;
        n = recv(fd, buf + have, sizeof(buf) - have, 0);
        if (n <= 0) {
            fprintf(stderr, "rawread: the connection ended before the server's EOF\n");
            return -1;
        }
        if (skip > 0) {
            size_t k = (size_t)n < skip ? (size_t)n : skip;

            skip -= k;
            memmove(buf + have, buf + have + k, (size_t)n - k);
            n -= (ssize_t)k;
        }
        have += (size_t)n;
    }
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

    bool fromSocket = argc == 6 && strcmp(argv[5], "socket") == 0;

    if (argc != 5 && !fromSocket) {
        fprintf(stderr, "usage: rawread HOST PORT USER FILE [socket] (password from BINVAULT_SOURCE_PASSWORD)\n");
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
    if (fromSocket) {
        if (readSocket(mysql_get_socket(m), &bytes, &events) != 0)
            return 1;
    }
    while (!fromSocket) {
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
