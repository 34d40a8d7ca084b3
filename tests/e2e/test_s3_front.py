# SPDX-License-Identifier: MIT
"""The tests' S3 server: the SigV4 verifier (tests/s3_sigv4.py) against AWS's
published examples, and the verifying front (tests/s3_front.py) before s3rver
refusing what S3 refuses, injecting failures and serving both address styles.

The examples: "Signature Calculations for the Authorization Header: Transferring
Payload in a Single Chunk (AWS Signature Version 4)", section "Examples: Signature
Calculations", https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
(access key AKIAIOSFODNN7EXAMPLE, bucket examplebucket, 20130524T000000Z).
"""
import hashlib
import http.client
import os
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import s3_sigv4  # noqa: E402
from s3_server import ACCESS_KEY, S3Client, S3Error  # noqa: E402
from s3_sigv4 import EMPTY_SHA256, VerifyError, verify  # noqa: E402

AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
AWS_DATE = "20130524T000000Z"
HOST = "examplebucket.s3.amazonaws.com"
PUT_BODY = b"Welcome to Amazon S3."


def _auth(signed, sig):
    return ("AWS4-HMAC-SHA256 Credential=%s/20130524/us-east-1/s3/aws4_request,"
            "SignedHeaders=%s,Signature=%s" % (AWS_KEY, signed, sig))


# (method, path, query, extra headers, body, signed headers, published signature)
AWS_EXAMPLES = [
    ("GET", "/test.txt", "", {"range": "bytes=0-9"}, b"",
     "host;range;x-amz-content-sha256;x-amz-date",
     "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"),
    ("PUT", "/test%24file.text", "",
     {"date": "Fri, 24 May 2013 00:00:00 GMT", "x-amz-storage-class": "REDUCED_REDUNDANCY"},
     PUT_BODY, "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
     "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"),
    ("GET", "/", "lifecycle", {}, b"", "host;x-amz-content-sha256;x-amz-date",
     "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"),
    ("GET", "/", "max-keys=2&prefix=J", {}, b"", "host;x-amz-content-sha256;x-amz-date",
     "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"),
]


def _example_headers(extra, body, signed, sig):
    h = {"host": HOST, "x-amz-date": AWS_DATE,
         "x-amz-content-sha256": hashlib.sha256(body).hexdigest()}
    h.update(extra)
    h["authorization"] = _auth(signed, sig)
    return h


@pytest.mark.parametrize("example", AWS_EXAMPLES, ids=["get-object", "put-object",
                                                       "get-lifecycle", "list-objects"])
def test_verifier_accepts_aws_published_examples(example):
    method, path, query, extra, body, signed, sig = example
    h = _example_headers(extra, body, signed, sig)
    assert verify(method, path, query, h, body, {AWS_KEY: AWS_SECRET}, "us-east-1") == AWS_KEY


def test_verifier_canonical_request_of_the_get_example():
    """The page also publishes the canonical request's hash in the string to sign."""
    h = _example_headers({"range": "bytes=0-9"}, b"", "", "0" * 64)
    creq = s3_sigv4.canonical_request("GET", "/test.txt", "", h,
                                      ["host", "range", "x-amz-content-sha256", "x-amz-date"],
                                      EMPTY_SHA256)
    assert hashlib.sha256(creq.encode()).hexdigest() == \
        "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"


@pytest.mark.parametrize("change,code", [
    (lambda h: h.update(range="bytes=0-10"), "SignatureDoesNotMatch"),
    (lambda h: h.update(authorization=h["authorization"][:-1] + "0"), "SignatureDoesNotMatch"),
    (lambda h: h.update(authorization=h["authorization"].replace(AWS_KEY, "AKIDOTHER")),
     "InvalidAccessKeyId"),
    (lambda h: h.update(authorization=h["authorization"].replace("us-east-1", "eu-west-1")),
     "AuthorizationHeaderMalformed"),
    (lambda h: h.update({"x-amz-content-sha256": "UNSIGNED-PAYLOAD"}),
     "XAmzContentSHA256Mismatch"),
    (lambda h: h.update({"x-amz-meta-extra": "1"}), "AccessDenied"),
    (lambda h: h.update(authorization="AWS AKIAIOSFODNN7EXAMPLE:abc"),
     "AuthorizationHeaderMalformed"),
])
def test_verifier_refuses_what_s3_refuses(change, code):
    method, path, query, extra, body, signed, sig = AWS_EXAMPLES[0]
    h = _example_headers(extra, body, signed, sig)
    change(h)
    with pytest.raises(VerifyError) as e:
        verify(method, path, query, h, body, {AWS_KEY: AWS_SECRET}, "us-east-1")
    assert e.value.code == code


def test_verifier_refuses_a_path_signed_unencoded():
    """'$' must be signed as %24 (S3's UriEncode), whichever way the path was sent."""
    method, path, query, extra, body, signed, sig = AWS_EXAMPLES[1]
    h = _example_headers(extra, body, signed, sig)
    assert verify(method, "/test$file.text", query, h, body, {AWS_KEY: AWS_SECRET}, "us-east-1")
    with pytest.raises(VerifyError):
        verify(method, "/test%2524file.text", query, h, body, {AWS_KEY: AWS_SECRET},
               "us-east-1")


def test_verifier_refuses_a_skewed_clock():
    method, path, query, extra, body, signed, sig = AWS_EXAMPLES[0]
    h = _example_headers(extra, body, signed, sig)
    with pytest.raises(VerifyError) as e:
        verify(method, path, query, h, body, {AWS_KEY: AWS_SECRET}, "us-east-1",
               now_amz_date="20130524T001600Z")
    assert e.value.code == "RequestTimeTooSkewed"


# -- the front before s3rver -------------------------------------------------------------

KEYS = ["u17/a b.jpg", "u17/p+q.png", "u17/\u00fc~=x.gif", "u17/x&y<z>'\".jpg", "u17/100%.png"]


def test_front_forwards_signed_requests_with_awkward_keys(s3):
    bucket = s3.bucket()
    c = S3Client(s3.front.port)
    for k in KEYS:
        c.put(bucket, k, b"bytes of " + k.encode())
    assert sorted(s3.list(bucket)) == sorted(KEYS)
    assert c.get(bucket, KEYS[2]) == b"bytes of " + KEYS[2].encode()
    assert c.exists(bucket, KEYS[0]) and not c.exists(bucket, "u17/none.jpg")
    answer = c.delete_objects(bucket, KEYS + ["u17/never-there.jpg"])
    assert b"<Error>" not in answer
    assert s3.list(bucket) == []
    dels = s3.front.requests(op="delete")
    assert len(dels) == 1 and dels[0]["verified"] and dels[0]["status"] == 200
    assert dels[0]["keys"] == KEYS + ["u17/never-there.jpg"]
    assert all(r["verified"] for r in s3.front.requests())


@pytest.mark.parametrize("client_kw,code", [
    ({"secret": "not-the-secret"}, "SignatureDoesNotMatch"),
    ({"access_key": "AKIDUNKNOWN"}, "InvalidAccessKeyId"),
    ({"region": "eu-west-1"}, "AuthorizationHeaderMalformed"),
])
def test_front_refuses_bad_credentials_before_s3rver(s3, client_kw, code):
    bucket = s3.bucket()
    c = S3Client(s3.front.port, **client_kw)
    st, _, body = c.request("PUT", S3Client.path(bucket, "u1/x.jpg"), body=b"x")
    assert st in (400, 403) and b"<Code>%s</Code>" % code.encode() in body
    assert s3.list(bucket) == []  # never reached s3rver
    assert s3.front.requests()[-1]["error"] == code


def _raw(s3, method, path, query, headers, body):
    conn = http.client.HTTPConnection("127.0.0.1", s3.front.port, timeout=10)
    try:
        conn.putrequest(method, path + "?" + query, skip_host=True, skip_accept_encoding=True)
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def _signed_delete(s3, bucket, body, md5=None, tamper=None):
    import base64
    h = {"host": "127.0.0.1:%d" % s3.front.port}
    if md5 is not False:
        h["content-md5"] = md5 or base64.b64encode(hashlib.md5(body).digest()).decode()
    h["authorization"] = s3_sigv4.sign("POST", "/" + bucket, "delete", h, body, ACCESS_KEY,
                                       "S3RVER", "us-east-1", s3_sigv4.amz_date_now())
    return _raw(s3, "POST", "/" + bucket, "delete", h, tamper or body)


def test_front_checks_delete_objects_bodies(s3):
    from s3_front import _delete_body
    bucket = s3.bucket()
    s3.put(bucket, "k1", b"1")
    body = _delete_body(["k1"])
    st, ans = _signed_delete(s3, bucket, body, md5=False)
    assert st == 400 and b"Content-MD5" in ans
    st, ans = _signed_delete(s3, bucket, body, md5="AAAAAAAAAAAAAAAAAAAAAA==")
    assert st == 400 and b"BadDigest" in ans
    st, ans = _signed_delete(s3, bucket, body, tamper=body.replace(b"k1", b"k2"))
    assert st == 400 and b"XAmzContentSHA256Mismatch" in ans
    st, ans = _signed_delete(s3, bucket, _delete_body(["k%d" % i for i in range(1001)]))
    assert st == 400 and b"MalformedXML" in ans
    assert s3.exists(bucket, "k1")
    st, ans = _signed_delete(s3, bucket, body)
    assert st == 200 and not s3.exists(bucket, "k1")


@pytest.mark.parametrize("kind,code", [(500, b"InternalError"), (503, b"SlowDown"),
                                       (429, b"SlowDown")])
def test_front_injects_error_answers_then_forwards(s3, kind, code):
    bucket = s3.bucket()
    s3.put(bucket, "k", b"v")
    c = S3Client(s3.front.port)
    s3.front.inject(kind, count=2, op="delete")
    for _ in range(2):
        with pytest.raises(S3Error) as e:
            c.delete_objects(bucket, ["k"])
        assert str(kind) in str(e.value) and code.decode() in str(e.value)
        assert s3.exists(bucket, "k")  # an injected failure deletes nothing
    c.delete_objects(bucket, ["k"])
    assert not s3.exists(bucket, "k")
    assert [r["status"] for r in s3.front.requests(op="delete")] == [kind, kind, 200]


def test_front_injects_reset_slow_and_deny(s3):
    bucket = s3.bucket()
    for k in ("a", "b", "c"):
        s3.put(bucket, k, b"v")
    c = S3Client(s3.front.port)
    s3.front.inject("reset", op="get")
    with pytest.raises(OSError):
        c.get(bucket, "a")
    assert c.get(bucket, "a") == b"v"
    s3.front.inject("slow", op="head", seconds=1.5)
    t0 = time.monotonic()
    with pytest.raises(OSError):  # the client gives up first
        c.request("HEAD", S3Client.path(bucket, "a"), timeout=0.5)
    assert time.monotonic() - t0 < 1.4
    s3.front.inject("deny", op="delete", keys={"b"})
    answer = c.delete_objects(bucket, ["a", "b"])
    assert b"<Error><Key>b</Key><Code>AccessDenied</Code>" in answer
    assert b"<Key>a</Key>" not in answer
    assert sorted(s3.list(bucket)) == ["b", "c"]


def test_front_holds_a_request_until_released(s3):
    bucket = s3.bucket()
    s3.put(bucket, "k", b"v")
    c = S3Client(s3.front.port)
    hold = s3.front.hold(op="delete")
    done = []
    t = threading.Thread(target=lambda: done.append(c.delete_objects(bucket, ["k"])))
    t.start()
    assert hold.wait_arrived(10)
    time.sleep(0.2)
    assert not done and s3.exists(bucket, "k")
    hold.release()
    t.join(10)
    assert done and not s3.exists(bucket, "k")


def test_front_serves_virtual_host_addresses(s3):
    """BUCKET.s3.localhost:PORT: the bucket in the Host, the key alone in the path."""
    bucket = s3.bucket()
    s3.put(bucket, "u1/pic one.jpg", b"vh")
    c = S3Client(s3.front.port, host="%s.s3.localhost" % bucket)
    st, _, body = c.request("GET", "/u1/pic%20one.jpg")
    assert st == 200 and body == b"vh"
    assert s3.front.requests()[-1]["verified"]
