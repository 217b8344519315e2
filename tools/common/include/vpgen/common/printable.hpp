// Text from a file or a database, made safe to print: on a terminal, in a one-line error, in a
// table row. A control character could clear the screen or move the cursor (terminal escapes),
// forge a row or split an error line (CR, LF), or reorder what a reader sees (Unicode bidi
// overrides). Header-only; thread-safe (pure functions).
#pragma once

#include <fmt/format.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vpgen {

// One character of `text` at `at` that is not printable text, and its length in bytes.
struct Unprintable {
  std::size_t at;      // byte offset
  std::size_t length;  // bytes it takes (1 for C0, DEL and bytes that are not UTF-8)
  char32_t code;       // the code point; for a byte that is not UTF-8, the byte itself
  bool utf8;           // false: a byte that does not start a well-formed UTF-8 sequence
};

namespace printable_detail {

// The well-formed UTF-8 sequence at `at` (RFC 3629: shortest form, no surrogates, <= U+10FFFF):
// its code point and length, or nothing.
inline std::optional<std::pair<char32_t, std::size_t>> decode_utf8(std::string_view text,
                                                                   std::size_t at) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(at);
  std::size_t length = 0;
  char32_t code = 0;
  char32_t min = 0;
  if (lead < 0x80) return std::pair{char32_t{lead}, std::size_t{1}};
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2, code = lead & 0x1F, min = 0x80;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3, code = lead & 0x0F, min = 0x800;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4, code = lead & 0x07, min = 0x10000;
  } else {
    return std::nullopt;
  }
  if (at + length > text.size()) return std::nullopt;
  for (std::size_t i = 1; i < length; ++i) {
    if ((byte(at + i) & 0xC0) != 0x80) return std::nullopt;
    code = (code << 6) | (byte(at + i) & 0x3F);
  }
  if (code < min || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return std::nullopt;
  return std::pair{code, length};
}

}  // namespace printable_detail

// Control characters: C0 (U+0000-U+001F), DEL (U+007F), C1 (U+0080-U+009F); and the Unicode
// bidirectional embeddings, overrides and isolates U+202A-U+202E, U+2066-U+2069.
inline bool is_control_character(char32_t code) {
  return code < 0x20 || (code >= 0x7F && code <= 0x9F) || (code >= 0x202A && code <= 0x202E) ||
         (code >= 0x2066 && code <= 0x2069);
}

// The first character of `text` from `from` on that is a control character or a byte that is
// not UTF-8, or nothing when all of it is printable text.
inline std::optional<Unprintable> find_unprintable(std::string_view text, std::size_t from = 0) {
  for (std::size_t at = from; at < text.size();) {
    const auto decoded = printable_detail::decode_utf8(text, at);
    if (!decoded) return Unprintable{at, 1, static_cast<unsigned char>(text[at]), false};
    if (is_control_character(decoded->first))
      return Unprintable{at, decoded->second, decoded->first, true};
    at += decoded->second;
  }
  return std::nullopt;
}

// How an unprintable character is written: \xNN for C0, DEL and bytes that are not UTF-8,
// \u{NNNN} (hexadecimal code point) for C1 and the bidi controls.
inline std::string escaped_character(const Unprintable& u) {
  if (!u.utf8 || u.code < 0x80) return fmt::format("\\x{:02X}", static_cast<std::uint32_t>(u.code));
  return fmt::format("\\u{{{:X}}}", static_cast<std::uint32_t>(u.code));
}

// `text` with every control character and every byte that is not UTF-8 written as an escape
// (escaped_character); everything else, backslashes included, as it is. The result has no line
// break, so a message that passes through here is one line.
inline std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t at = 0;
  while (const auto u = find_unprintable(text, at)) {
    out.append(text.substr(at, u->at - at));
    out += escaped_character(*u);
    at = u->at + u->length;
  }
  out.append(text.substr(at));
  return out;
}

// Text of several lines (a table, a report): each line made printable() and the line breaks
// (LF) kept; CR and every other control character escaped.
inline std::string printable_lines(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t at = 0;
  while (at <= text.size()) {
    const std::size_t end = text.find('\n', at);
    out += printable(text.substr(at, end == std::string_view::npos ? end : end - at));
    if (end == std::string_view::npos) break;
    out += '\n';
    at = end + 1;
  }
  return out;
}

}  // namespace vpgen
