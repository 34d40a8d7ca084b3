// SPDX-License-Identifier: MIT
// s3rver 3.7.1 (node_modules, pinned by package-lock.json) with one fix, started the way
// its CLI does:  node s3rver.js DIRECTORY PORT
//
// The fix: s3rver's DeleteObjects deletes its keys concurrently (Promise.all), and each
// deletion then removes its key's parent directories while they look empty
// (FilesystemStore.deleteObject: readdirSync + rmdir).  Two keys under one prefix race:
// one removes the directory the other is reading, and the whole call answers 500
// InternalError although every object was deleted.  lethe's keys share prefixes (u17/...),
// so a bulk delete of one person's media hit it almost every time.  Here the directory
// clean-up stops quietly at a directory that is gone or no longer empty, as a real
// object store (which has no directories) would never fail there.
'use strict';

const fs = require('fs');
const path = require('path');
const S3rver = require('s3rver');
const FilesystemStore = require('s3rver/lib/stores/filesystem');

FilesystemStore.prototype.deleteObject = async function deleteObject(bucket, key) {
  await Promise.all(
    [
      this.getResourcePath(bucket, key, 'object'),
      this.getResourcePath(bucket, key, 'object.md5'),
      this.getResourcePath(bucket, key, 'metadata.json'),
    ].map(filePath =>
      fs.promises.unlink(filePath).catch(err => {
        if (err.code !== 'ENOENT') throw err;
      }),
    ),
  );
  const bucketPath = this.getBucketPath(bucket);
  const parts = key.split('/');
  parts.pop();
  while (parts.length) {
    const dir = path.join(bucketPath, ...parts);
    try {
      if (fs.readdirSync(dir).length) return;
      fs.rmdirSync(dir);
    } catch (err) {
      if (err.code === 'ENOENT' || err.code === 'ENOTEMPTY') return;
      throw err;
    }
    parts.pop();
  }
};

const [directory, port] = process.argv.slice(2);
if (!directory || !port) {
  console.error('usage: node s3rver.js DIRECTORY PORT');
  process.exit(2);
}
new S3rver({
  directory,
  address: '127.0.0.1',
  port: Number(port),
  serviceEndpoint: 'localhost',
  silent: true,
})
  .run()
  .then(({ address, port: bound }) => console.log('S3rver listening on %s:%d', address, bound))
  .catch(err => {
    console.error(err);
    process.exit(1);
  });
