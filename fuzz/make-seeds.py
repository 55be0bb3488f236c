#!/usr/bin/env python3
"""Regenerates the committed seed corpora fuzz/seeds-NAME/ (small real samples).

Usage: fuzz/make-seeds.py BINVAULT [FIXTURES_DIR]

Archives of fixture binlogs are made with `BINVAULT import` in a temporary directory; their
segments, trailers, index chunks, checkpoint and identity become the segment, index and json
seeds. The S3, replication-protocol and config seeds are written out here from the responses,
packets and files the code handles. The first byte of a seed of a multi-parser target picks the
parser (see the comment at the top of fuzz/fuzz_NAME.c).
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
binvault = sys.argv[1]
fixtures = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "..", "shared", "fixtures", "binlog")


def put(target, name, data):
    d = os.path.join(root, "fuzz", "seeds-" + target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def archive(tmp, name, size, files):
    path = os.path.join(tmp, name)
    subprocess.run([binvault, "import", "--archive", path, "--segment-size", str(size)]
                   + [os.path.join(fixtures, f) for f in files], check=True, stdout=subprocess.DEVNULL)
    return path


def trailer(obj):
    tlen = struct.unpack("<I", obj[-16:-12])[0]
    return obj[-16 - tlen:-16]


# Inputs that once failed (regress-*) stay; everything else is written again.
for target in ("segment", "index", "json", "s3xml", "replserver", "config"):
    d = os.path.join(root, "fuzz", "seeds-" + target)
    for f in os.listdir(d) if os.path.isdir(d) else []:
        if not f.startswith("regress-"):
            os.unlink(os.path.join(d, f))

with tempfile.TemporaryDirectory() as tmp:
    archives = {
        "maria": archive(tmp, "maria", 65536, ["mariadb-10.11.19-compressed.00000%d.binlog" % i for i in (1, 2, 3, 4)]),
        "mysql": archive(tmp, "mysql", 1024, ["mysql-8.0.45-gtid.000001.binlog", "mysql-8.0.45-gtid.000002.binlog"]),
        "domain": archive(tmp, "domain", 1024, ["mariadb-11.8.5-gtid-domain1.000002.binlog"]),
    }
    for label, path in archives.items():
        segs = sorted(os.listdir(os.path.join(path, "segments")))
        chunks = sorted(os.listdir(os.path.join(path, "index")))
        smallest = min(segs, key=lambda s: os.path.getsize(os.path.join(path, "segments", s)))
        obj = open(os.path.join(path, "segments", smallest), "rb").read()
        t = trailer(obj)
        put("segment", "object-" + label, b"\x00" + obj)
        put("segment", "trailer-" + label, b"\x01" + t)
        put("segment", "name-" + label, b"\x03segments/" + smallest.encode())
        # The content: the FDE of the binlog file, then the segment's byte range of it.
        import json
        meta = json.loads(t)
        src = [f for f in os.listdir(fixtures) if f == meta["file"]][0]
        data = open(os.path.join(fixtures, src), "rb").read()
        fde = data[4:4 + meta["fde_len"]]
        content = fde + data[meta["start_pos"]:meta["end_pos"]]
        put("segment", "content-" + label, b"\x02" + bytes([meta["events"] & 0xff]) + content)
        chunk = open(os.path.join(path, "index", chunks[0]), "rb").read()
        line = chunk.split(b"\n")[0]
        put("segment", "indexline-" + label, b"\x01" + line)
        put("index", "chunk-" + label, b"\x02index/" + chunks[0].encode() + b"\n" + chunk)
        first = json.loads(chunk.split(b"\n")[1 if chunk.count(b"\n") > 1 else 0])
        put("index", "chunk-base-" + label, b"\x02index/" + chunks[0].encode() + b"\n" + chunk + b"\0"
            + ("%s\t%d\t%s\n" % (first["file"], first["start_pos"], first["gtid_start"])).encode())
        put("index", "identity-" + label, b"\x00" + open(os.path.join(path, "binvault.json"), "rb").read())
        put("index", "checkpoint-" + label, b"\x01" + open(os.path.join(path, "checkpoint.json"), "rb").read())
        put("json", "trailer-" + label, t)
        put("json", "indexline-" + label, line)
        put("json", "checkpoint-" + label, open(os.path.join(path, "checkpoint.json"), "rb").read())
        put("json", "identity-" + label, open(os.path.join(path, "binvault.json"), "rb").read())
        last = json.loads(chunk.split(b"\n")[-2])
        put("index", "prune-" + label, b"\x03" + json.dumps({
            "version": 1, "first_seq": 2, "file": last["file"], "start_pos": last["start_pos"],
            "gtid_start": last["gtid_start"], "first_time_us": last["first_time_us"],
            "created": "2026-11-21T04:30:00Z", "reason": "--keep-days 7"}).encode())
    put("segment", "name-order", b"\x03mariadb-bin.000999\nmariadb-bin.1000000")
    put("index", "baseinfo-maria", b"\x04mariadb-10.11.19-compressed.000002.binlog\t256\t0-1-5\n")
    put("index", "baseinfo-mysql", b"\x04mysql-8.0.45-gtid.000001.binlog\t1472\t396e294c-1ca4-11f1-9ae7-00155da79c6b:1-4,\n"
        b"4a3b2c1d-1ca4-11f1-9ae7-00155da79c6b:1-10\n")
    put("json", "escapes", b'{"a":["\\u00e9\\ud83d\\ude00\\n",-1.5e3,true,false,null,{}],"b":18446744073709551615}')

put("s3xml", "list", b'<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
    b"<Name>bkt</Name><Prefix>arch/segments/</Prefix><KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys>"
    b"<IsTruncated>true</IsTruncated><NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
    b"<Contents><Key>arch/segments/0000000000000001-mariadb-bin.000001-0000000256.bvs</Key>"
    b"<LastModified>2026-11-21T04:30:00.000Z</LastModified><ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag>"
    b"<Size>3052</Size><StorageClass>STANDARD</StorageClass></Contents>"
    b"<Contents><Key>arch/a&amp;b&#x41;&#66;</Key><Size>0</Size></Contents></ListBucketResult>")
put("s3xml", "list-empty", b'<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
    b"<Name>bkt</Name><Prefix/><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>")
put("s3xml", "error", b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message>'
    b"<Key>arch/checkpoint.json</Key><RequestId>tx0000a</RequestId></Error>")
put("s3xml", "initiate", b'<?xml version="1.0" encoding="UTF-8"?>\n<InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
    b"<Bucket>bkt</Bucket><Key>arch/x</Key><UploadId>2~iCw_lDY8VoMhP1B6o3k5LmImgnIWnvV</UploadId></InitiateMultipartUploadResult>")
put("s3xml", "uploads", b'<?xml version="1.0" encoding="UTF-8"?>\n<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
    b"<Bucket>bkt</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker><NextKeyMarker>arch/y</NextKeyMarker>"
    b"<NextUploadIdMarker>2~x</NextUploadIdMarker><IsTruncated>true</IsTruncated>"
    b"<Upload><Key>arch/y</Key><UploadId>2~x</UploadId><Initiated>2026-11-20T04:30:00.000Z</Initiated></Upload>"
    b"</ListMultipartUploadsResult>")


def packet(seq, payload):
    return struct.pack("<I", len(payload))[:3] + bytes([seq]) + payload


# A HandshakeResponse41 as MariaDB 10.11's replica I/O thread sends it.
caps = 0x00000001 | 0x00000004 | 0x00000200 | 0x00002000 | 0x00008000 | 0x00020000 | 0x00080000 | 0x00100000 | 0x00200000
resp = (struct.pack("<IIB", caps, 0x40000000, 45) + b"\0" * 23 + b"repl\0" + bytes([20]) + bytes(range(1, 21))
        + b"mysql_native_password\0" + bytes([12, 4]) + b"_os" + bytes([5]) + b"Linux" + b"\x00\x00")
put("replserver", "packets", b"\x00\x40" + packet(1, resp) + packet(0, b"\x03SELECT UNIX_TIMESTAMP()"))
put("replserver", "handshake", b"\x01" + resp)
for i, q in enumerate([b"SELECT UNIX_TIMESTAMP()", b"SHOW VARIABLES LIKE 'SERVER_ID'",
                       b"SET @master_heartbeat_period= 30000001024", b"SET @master_binlog_checksum= @@global.binlog_checksum",
                       b"SELECT @master_binlog_checksum", b"SET @mariadb_slave_capability=4", b"SELECT @@GLOBAL.gtid_domain_id",
                       b"SET @slave_connect_state='0-1-100,1-2-7'", b"SET @slave_gtid_strict_mode=1",
                       b"SET @slave_until_gtid='0-1-120'", b"SET NAMES utf8mb4", b"SELECT @@version_comment LIMIT 1"]):
    put("replserver", "query-%02d" % i, b"\x02" + q)
put("replserver", "like", b"\x02server\\_%\0server_id")
put("replserver", "dump", b"\x03" + struct.pack("<IHI", 4, 0, 2) + b"mariadb-bin.000001")
put("replserver", "register", b"\x09" + struct.pack("<I", 2) + b"\x09127.0.0.1\x04repl\x00" + struct.pack("<HII", 3306, 0, 0))
binlog = open(os.path.join(fixtures, "mariadb-10.11.19-compressed.000002.binlog"), "rb").read()
put("replserver", "stream", b"\x04\x04" + b"0-1-1\0" + b"0-1-9\0" + binlog[4:])
put("replserver", "stream-pos", b"\x0a\x80" + b"\0" + b"\0" + binlog[4:])
fdelen = struct.unpack("<I", binlog[4 + 9:4 + 13])[0]
put("replserver", "fde", b"\x05" + binlog[4:4 + fdelen])

put("config", "agent", b"\x00# binvault agent\n[binvault]\nsource = mysql://repl@127.0.0.1:3306\n"
    b"archive = s3://bucket/prefix\nsegment-size = 64M\nsegment-interval = 10s\n\n[agent]\nupload-workers = 8\n"
    b"flag = yes\n; comment\n[other]\nserver-id = x\n")
put("config", "argv", b"\x01--source\0mysql://u@h:1\0--segment-size=1G\0--segment-interval\0500ms\0--flag\0pos\0--\0-x")
put("config", "size", b"\x02" + b"1.5G")
put("config", "duration", b"\x05" + b"90min")

# Timeline records (fuzz_timeline): documents separated by NUL, a set built in order.
def timeline_source(i):
    return {"flavour": "mariadb", "server_id": i, "server_uuid": "", "host": "db%d:3306" % i,
            "basename": "mariadb-bin", "server_version": "10.11.19-MariaDB-log", "gtid_domain_id": 0}


def timeline_doc(r):
    return json.dumps(r, separators=(",", ":")).encode()


tl1 = {"version": 2, "timeline": 1, "parent": 0, "source": timeline_source(1), "first_seq": 1,
       "created": "2026-12-06T14:00:00Z", "reason": "the archive's first source"}
tl2 = {"version": 2, "timeline": 2, "parent": 1, "source": timeline_source(2), "first_seq": 1042,
       "fork": {"seq": 1038, "file": "mariadb-bin.000012", "pos": 48811, "gtid_state": "0-1-269",
                "gtid": "0-1-269", "time_us": 1795231386000000, "transactions": 3},
       "diverged": {"first_seq": 1038, "last_seq": 1041, "transactions": 7, "first_gtid": "0-1-270",
                    "last_gtid": "0-1-276", "first_time_us": 1795231387000000, "last_time_us": 1795231387210000},
       "created": "2026-12-06T14:03:09Z", "reason": "source changed: server_id 1 -> 2 at db2:3306"}
tl3 = {"version": 2, "timeline": 3, "parent": 2, "source": timeline_source(3), "first_seq": 2000,
       "fork": {"seq": 1999, "file": "mariadb-bin.000003", "pos": 1200, "gtid_state": "0-1-269,0-2-900",
                "gtid": "0-2-900", "time_us": 1795231500000000, "transactions": 1},
       "created": "2026-12-06T15:03:09Z", "reason": "switchover"}
put("timeline", "one", timeline_doc(tl1))
put("timeline", "fork-diverged", timeline_doc(tl1) + b"\0" + timeline_doc(tl2))
put("timeline", "three", b"\0".join(timeline_doc(r) for r in (tl1, tl2, tl3)))
put("timeline", "implicit-one", timeline_doc(tl2) + b"\0" + timeline_doc(tl3))
