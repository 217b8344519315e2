// The canonical encoding and digest arithmetic of content_digest.hpp. SHA-256 is OpenSSL's
// (libcrypto): one EVP_Digest call per patient.
#include "content_digest.hpp"

#include <openssl/evp.h>

#include <cstring>

#include "vpgen/population/error.hpp"

namespace vpgen::digest {
namespace {

void put64(std::string& out, std::uint64_t v) {
  char bytes[8];
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out.append(bytes, 8);
}

}  // namespace

void integer(std::string& out, std::int64_t value) {
  out += 'I';
  put64(out, static_cast<std::uint64_t>(value));
}

void real(std::string& out, double value) {
  if (value != value) return null(out);
  if (value == 0.0) value = 0.0;  // -0.0 reads back from SQLite as +0.0
  std::uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof bits);
  out += 'R';
  put64(out, bits);
}

void text(std::string& out, std::string_view value) {
  out += 'T';
  put64(out, value.size());
  out.append(value);
}

void null(std::string& out) { out += 'N'; }

void row(std::string& out, char table) {
  out += '|';
  out += table;
}

Value sha256(std::string_view bytes) {
  Value value{};
  unsigned int size = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), value.data(), &size, EVP_sha256(), nullptr) != 1 ||
      size != value.size())
    throw StorageError("computing a SHA-256 digest failed (OpenSSL libcrypto)");
  return value;
}

void add(Value& sum, const Value& term) {
  unsigned carry = 0;
  for (std::size_t i = sum.size(); i-- > 0;) {  // big-endian: the last byte is the lowest
    const unsigned total = sum[i] + term[i] + carry;
    sum[i] = static_cast<std::uint8_t>(total & 0xff);
    carry = total >> 8;
  }
}

std::string hex(const Value& value) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (const std::uint8_t byte : value) {
    out += kDigits[byte >> 4];
    out += kDigits[byte & 0xf];
  }
  return out;
}

bool parse(std::string_view text, Value& value) {
  if (text.size() != 64) return false;
  const auto nibble = [](char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
  };
  for (std::size_t i = 0; i < value.size(); ++i) {
    const int hi = nibble(text[2 * i]);
    const int lo = nibble(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    value[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return true;
}

}  // namespace vpgen::digest
