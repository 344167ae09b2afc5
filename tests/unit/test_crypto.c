/* core/crypto: digests against FIPS 180 / RFC 1321 examples, HMAC against
 * RFC 4231, base64 against RFC 4648, and the shape of UUIDs. */
#include "core/crypto.h"

#include <stdlib.h>
#include <string.h>

#include "tap.h"

static void test_sha256(void) {
  char hex[65];
  CASE("sha256");
  tw_sha256_hex("", 0, hex);
  CHECK_STR_EQ(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  tw_sha256_hex("abc", 3, hex);
  CHECK_STR_EQ(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  /* FIPS 180-2: one million 'a' */
  char *big = malloc(1000000);
  memset(big, 'a', 1000000);
  tw_sha256_hex(big, 1000000, hex);
  CHECK_STR_EQ(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

  /* streaming in odd pieces gives the same digest, and the object can be reused */
  tw_hash *h = tw_hash_sha256_new();
  CHECK(h != NULL);
  uint8_t d[32];
  for (int round = 0; round < 2; round++) {
    size_t off = 0, step = 1;
    while (off < 1000000) {
      size_t n = step < 1000000 - off ? step : 1000000 - off;
      tw_hash_update(h, big + off, n);
      off += n;
      step = step * 3 + 1;
    }
    CHECK_INT_EQ(tw_hash_final(h, d), 32);
    tw_hex(d, 32, hex);
    CHECK_STR_EQ(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  }
  tw_hash_free(h);
  free(big);
}

static void test_md5(void) {
  char hex[33];
  CASE("md5");
  tw_md5_hex("", 0, hex);
  CHECK_STR_EQ(hex, "d41d8cd98f00b204e9800998ecf8427e");
  tw_md5_hex("abc", 3, hex);
  CHECK_STR_EQ(hex, "900150983cd24fb0d6963f7d28e17f72");
  const char *fox = "The quick brown fox jumps over the lazy dog";
  tw_md5_hex(fox, strlen(fox), hex);
  CHECK_STR_EQ(hex, "9e107d9d372bb6826bd81d3542a419d6");

  tw_hash *h = tw_hash_md5_new();
  uint8_t d[16];
  tw_hash_update(h, fox, 10);
  tw_hash_update(h, fox + 10, strlen(fox) - 10);
  CHECK_INT_EQ(tw_hash_final(h, d), 16);
  tw_hex(d, 16, hex);
  CHECK_STR_EQ(hex, "9e107d9d372bb6826bd81d3542a419d6");
  tw_hash_final(h, d); /* reset state: MD5 of nothing */
  tw_hex(d, 16, hex);
  CHECK_STR_EQ(hex, "d41d8cd98f00b204e9800998ecf8427e");
  tw_hash_free(h);
}

static void test_hmac(void) {
  uint8_t mac[32], key[131];
  char hex[65];
  CASE("hmac-sha256 (RFC 4231)");
  memset(key, 0x0b, 20);
  tw_hmac_sha256(key, 20, "Hi There", 8, mac);
  tw_hex(mac, 32, hex);
  CHECK_STR_EQ(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  const char *d2 = "what do ya want for nothing?";
  tw_hmac_sha256("Jefe", 4, d2, strlen(d2), mac);
  tw_hex(mac, 32, hex);
  CHECK_STR_EQ(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  /* a key longer than the block is hashed first */
  memset(key, 0xaa, 131);
  const char *d6 = "Test Using Larger Than Block-Size Key - Hash Key First";
  tw_hmac_sha256(key, 131, d6, strlen(d6), mac);
  tw_hex(mac, 32, hex);
  CHECK_STR_EQ(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

static void test_hex(void) {
  CASE("hex");
  const uint8_t b[] = {0x00, 0x01, 0xab, 0xff};
  char hex[9];
  tw_hex(b, 4, hex);
  CHECK_STR_EQ(hex, "0001abff");
  tw_hex(b, 0, hex);
  CHECK_STR_EQ(hex, "");
}

static void test_base64(void) {
  static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
  static const char *enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
  char out[32];
  uint8_t dec[32];
  CASE("base64 (RFC 4648)");
  for (int i = 0; i < 7; i++) {
    size_t n = tw_base64_encode((const uint8_t *)plain[i], strlen(plain[i]), out);
    CHECK_STR_EQ(out, enc[i]);
    CHECK_INT_EQ(n, strlen(enc[i]));
    long m = tw_base64_decode(enc[i], strlen(enc[i]), dec);
    CHECK_INT_EQ(m, strlen(plain[i]));
    CHECK(m >= 0 && memcmp(dec, plain[i], (size_t)m) == 0);
  }
  CASE("base64 unpadded and binary");
  CHECK_INT_EQ(tw_base64_decode("Zg", 2, dec), 1);
  CHECK(dec[0] == 'f');
  CHECK_INT_EQ(tw_base64_decode("Zm9vYmE", 7, dec), 5);
  const uint8_t bin[] = {0x00, 0x01, 0x02, 0xff, 0xfe, 0x80};
  tw_base64_encode(bin, 4, out);
  CHECK_STR_EQ(out, "AAEC/w==");
  tw_base64_encode(bin, 6, out);
  CHECK_STR_EQ(out, "AAEC//6A");
  CHECK_INT_EQ(tw_base64_decode("AAEC//6A", 8, dec), 6);
  CHECK(memcmp(dec, bin, 6) == 0);
  CASE("base64 rejects");
  CHECK_INT_EQ(tw_base64_decode("Z", 1, dec), -1);
  CHECK_INT_EQ(tw_base64_decode("Zg=", 3, dec), -1);
  CHECK_INT_EQ(tw_base64_decode("Zm9v!", 5, dec), -1);
  CHECK_INT_EQ(tw_base64_decode("Zm 9v", 5, dec), -1);
  CHECK_INT_EQ(tw_base64_decode("Zm9v\n", 5, dec), -1);
  CHECK_INT_EQ(tw_base64_decode("=Zm9", 4, dec), -1);
  CHECK_INT_EQ(tw_base64_decode("Zg==Zg==", 8, dec), -1);
  CHECK_INT_EQ(tw_base64_decode("Zm-_", 4, dec), -1); /* URL-safe alphabet is not base64 */
}

static int is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static void test_random(void) {
  CASE("random bytes and uuid4");
  uint8_t a[32], b[32];
  tw_random_bytes(a, sizeof a);
  tw_random_bytes(b, sizeof b);
  CHECK(memcmp(a, b, sizeof a) != 0);
  char u[37], v[37];
  tw_uuid4(u);
  tw_uuid4(v);
  CHECK_INT_EQ(strlen(u), 36);
  CHECK(strcmp(u, v) != 0);
  int shape = 1;
  for (int i = 0; i < 36; i++) {
    if (i == 8 || i == 13 || i == 18 || i == 23)
      shape &= u[i] == '-';
    else
      shape &= is_hex(u[i]);
  }
  CHECK(shape);
  CHECK(u[14] == '4');
  CHECK(u[19] == '8' || u[19] == '9' || u[19] == 'a' || u[19] == 'b');
}

int main(void) {
  test_sha256();
  test_md5();
  test_hmac();
  test_hex();
  test_base64();
  test_random();
  return tap_done();
}
