# SPDX-License-Identifier: MIT
"""The `s3` fixture's object: s3rver (tests/s3_server.py) behind the verifying front
(tests/s3_front.py), and what a test needs to point lethe at it.

    s3.endpoint            the front's URL (lethe talks to the front, never to s3rver)
    s3.bucket()            a new, empty bucket of this test (unique name)
    s3.put/get/exists/list direct to s3rver (not in the front's log)
    s3.front               inject(), hold(), requests(): see tests/s3_front.py
    s3.env                 the environment variable lethe reads the credentials from
    s3.store_yaml(...)     a media_stores entry of kind s3 for lethe.yaml
"""
import itertools
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from s3_server import ACCESS_KEY, REGION, SECRET  # noqa: E402

CRED_VAR = "LETHE_TEST_S3"
_seq = itertools.count(1)


class S3:
    def __init__(self, server, front):
        self.server = server
        self.front = front
        self.client = server.client()
        self.region = REGION
        self.env = {CRED_VAR: "%s:%s" % (ACCESS_KEY, SECRET)}

    @property
    def endpoint(self):
        return self.front.url

    def bucket(self, stem="media"):
        name = "%s-%d-%d" % (stem, os.getpid(), next(_seq))
        self.client.create_bucket(name)
        return name

    def put(self, bucket, key, data):
        self.client.put(bucket, key, data)

    def get(self, bucket, key):
        return self.client.get(bucket, key)

    def exists(self, bucket, key):
        return self.client.exists(bucket, key)

    def list(self, bucket, prefix=""):
        return self.client.list(bucket, prefix)

    def store_yaml(self, name, bucket, prefix="", path_style=True, endpoint=None,
                   cred_var=CRED_VAR, retries=None, timeout_ms=None, backoff_ms=None,
                   connect_timeout_ms=None):
        """The lines of a `media_stores:` entry (indented two spaces) of kind s3."""
        lines = ["  %s:" % name,
                 "    type: s3",
                 "    bucket: %s" % bucket,
                 "    region: %s" % self.region,
                 "    endpoint: %s" % (endpoint or self.endpoint),
                 "    path_style: %s" % ("true" if path_style else "false"),
                 '    prefix: "%s"' % prefix,
                 "    credentials_env: %s" % cred_var]
        for key, val in (("retries", retries), ("timeout_ms", timeout_ms),
                         ("backoff_ms", backoff_ms), ("connect_timeout_ms", connect_timeout_ms)):
            if val is not None:
                lines.append("    %s: %d" % (key, val))
        return "\n".join(lines) + "\n"
