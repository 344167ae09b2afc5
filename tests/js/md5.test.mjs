// Checks the test suite's own MD5OfMessageAttributes helper against AWS's sample
// values, so attribute-MD5 failures elsewhere can be trusted to be server-side.
import { test } from "node:test";
import assert from "node:assert/strict";
import { md5OfMessageAttributes, md5Hex } from "./helpers.mjs";

test("md5 helper: AWS sample with two String attributes", () => {
  assert.equal(
    md5OfMessageAttributes({
      test_attribute_name_2: { DataType: "String", StringValue: "test_attribute_value_2" },
      test_attribute_name_1: { DataType: "String", StringValue: "test_attribute_value_1" },
    }),
    "d53f3b558fe951154770f25cb63dbba9",
  );
});

test("md5 helper: AWS sample with a Binary attribute", () => {
  assert.equal(
    md5OfMessageAttributes({
      test_attribute_name: { DataType: "Binary", BinaryValue: Buffer.from("test_attribute_value") },
    }),
    "23f6bd27ea87aab7dfeadcc9aebee495",
  );
});

test("md5 helper: body digest is over UTF-8", () => {
  assert.equal(md5Hex(Buffer.from("héllo 🌍", "utf8")), md5Hex("héllo 🌍"));
});
