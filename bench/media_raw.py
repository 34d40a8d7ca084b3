#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The raw limit of bench/media: delete the keys listed in a JSON file from one
bucket with the fewest DeleteObjects calls (1,000 keys each, Quiet), one
connection per call as lethe makes, signed with SigV4 by tests/s3_sigv4.py.
Exits 1 if S3 answers an error (or an <Error> entry)."""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tests"))

from s3_server import S3Client  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--bucket", required=True)
    ap.add_argument("--keys", required=True)
    a = ap.parse_args()
    with open(a.keys) as f:
        keys = json.load(f)
    c = S3Client(a.port)
    for i in range(0, len(keys), 1000):
        answer = c.delete_objects(a.bucket, keys[i:i + 1000])
        if b"<Error>" in answer:
            sys.exit("DeleteObjects answered errors")


if __name__ == "__main__":
    main()
