// S3 Object Ownership and ACLs with @aws-sdk/client-s3: a new bucket refuses
// public ACLs (BucketOwnerEnforced); after PutBucketOwnershipControls
// ObjectWriter, PutObjectAcl public-read lets an anonymous fetch read the
// object, and private takes it back.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  CreateBucketCommand,
  PutObjectCommand,
  PutObjectAclCommand,
  GetObjectAclCommand,
  PutBucketOwnershipControlsCommand,
  GetBucketOwnershipControlsCommand,
} from "@aws-sdk/client-s3";
import { startServer, makeS3Client, uniqueBucket } from "./helpers.mjs";

const ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers";

let server;
let s3;

before(async () => {
  server = await startServer();
  s3 = makeS3Client(server);
});
after(async () => {
  s3?.destroy();
  await server?.stop();
});

function anonGet(b, key) {
  return fetch(`${server.endpoint}/${b}/${encodeURIComponent(key)}`, {
    signal: AbortSignal.timeout(15_000),
  });
}

describe("S3 ACLs (client-s3)", () => {
  it("BucketOwnerEnforced by default refuses a public ACL", async () => {
    const b = uniqueBucket("jsacl");
    await s3.send(new CreateBucketCommand({ Bucket: b }));
    const oc = await s3.send(new GetBucketOwnershipControlsCommand({ Bucket: b }));
    assert.deepEqual(oc.OwnershipControls.Rules, [{ ObjectOwnership: "BucketOwnerEnforced" }]);
    await s3.send(new PutObjectCommand({ Bucket: b, Key: "k", Body: "x" }));
    await assert.rejects(
      s3.send(new PutObjectAclCommand({ Bucket: b, Key: "k", ACL: "public-read" })),
      (e) => {
        assert.equal(e.name, "AccessControlListNotSupported");
        assert.equal(e.$metadata.httpStatusCode, 400);
        return true;
      },
    );
    assert.equal((await anonGet(b, "k")).status, 403);
  });

  it("ObjectWriter: PutObjectAcl public-read, then an anonymous fetch reads", async () => {
    const b = uniqueBucket("jsacl");
    await s3.send(new CreateBucketCommand({ Bucket: b }));
    await s3.send(
      new PutBucketOwnershipControlsCommand({
        Bucket: b,
        OwnershipControls: { Rules: [{ ObjectOwnership: "ObjectWriter" }] },
      }),
    );
    await s3.send(new PutObjectCommand({ Bucket: b, Key: "pub.txt", Body: "hello acl" }));
    let res = await anonGet(b, "pub.txt");
    assert.equal(res.status, 403);
    await res.arrayBuffer();
    await s3.send(new PutObjectAclCommand({ Bucket: b, Key: "pub.txt", ACL: "public-read" }));
    res = await anonGet(b, "pub.txt");
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "hello acl");
    const acl = await s3.send(new GetObjectAclCommand({ Bucket: b, Key: "pub.txt" }));
    assert.ok(
      acl.Grants.some((g) => g.Grantee.URI === ALL_USERS && g.Permission === "READ"),
      JSON.stringify(acl.Grants),
    );
    assert.match(acl.Owner.ID, /^[0-9a-f]{64}$/);
    await s3.send(new PutObjectAclCommand({ Bucket: b, Key: "pub.txt", ACL: "private" }));
    res = await anonGet(b, "pub.txt");
    assert.equal(res.status, 403);
    await res.arrayBuffer();
  });
});
