//===- Json.cpp - A small JSON reader for kernel metadata -----------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "Json.h"
#include "Support.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>

namespace fa_runner {

const Json &Json::operator[](const std::string &key) const {
  auto it = object.find(key);
  if (kind != Object || it == object.end())
    die(kUsage, "metadata: missing key '" + key + "'");
  return it->second;
}

int64_t Json::asInt() const {
  if (kind != Number || !isInteger)
    die(kUsage, "metadata: expected an integer");
  return integer;
}

bool Json::asBool() const {
  if (kind != Bool)
    die(kUsage, "metadata: expected true or false");
  return boolean;
}

const std::string &Json::asString() const {
  if (kind != String)
    die(kUsage, "metadata: expected a string");
  return string;
}

namespace {

class JsonParser {
public:
  explicit JsonParser(const std::string &text) : s(text) {}
  Json parse() {
    Json v = value(0);
    skip();
    if (pos != s.size())
      fail("trailing characters");
    return v;
  }

private:
  [[noreturn]] void fail(const char *what) {
    die(kUsage, std::string("metadata: malformed JSON (") + what +
                    ") at offset " + std::to_string(pos));
  }
  void skip() {
    while (pos < s.size() && std::isspace(static_cast<unsigned char>(s[pos])))
      ++pos;
  }
  bool eat(char c) {
    skip();
    if (pos < s.size() && s[pos] == c) {
      ++pos;
      return true;
    }
    return false;
  }
  void appendUtf8(std::string &out, unsigned code) {
    if (code < 0x80) {
      out += static_cast<char>(code);
    } else if (code < 0x800) {
      out += static_cast<char>(0xc0 | (code >> 6));
      out += static_cast<char>(0x80 | (code & 0x3f));
    } else {
      out += static_cast<char>(0xe0 | (code >> 12));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (code & 0x3f));
    }
  }
  std::string str() {
    if (!eat('"'))
      fail("expected string");
    std::string out;
    while (pos < s.size() && s[pos] != '"') {
      if (s[pos] != '\\') {
        out += s[pos++];
        continue;
      }
      if (++pos >= s.size())
        fail("bad escape");
      char c = s[pos++];
      switch (c) {
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      case 'r':
        out += '\r';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case '"':
      case '\\':
      case '/':
        out += c;
        break;
      case 'u': {
        // llvm::json writes control characters as \u00XX; surrogate pairs
        // never occur in metadata (names and types are ASCII).
        if (pos + 4 > s.size())
          fail("bad \\u escape");
        char *end = nullptr;
        std::string hex = s.substr(pos, 4);
        unsigned code = std::strtoul(hex.c_str(), &end, 16);
        if (*end)
          fail("bad \\u escape");
        pos += 4;
        appendUtf8(out, code);
        break;
      }
      default:
        fail("bad escape");
      }
    }
    if (pos >= s.size())
      fail("unterminated string");
    ++pos;
    return out;
  }
  Json number() {
    size_t start = pos;
    if (pos < s.size() && (s[pos] == '-' || s[pos] == '+'))
      ++pos;
    bool integral = true;
    while (pos < s.size() &&
           (std::isdigit(static_cast<unsigned char>(s[pos])) ||
            (s[pos] && std::strchr(".eE+-", s[pos])))) {
      if (!std::isdigit(static_cast<unsigned char>(s[pos])))
        integral = false;
      ++pos;
    }
    std::string lexeme = s.substr(start, pos - start);
    Json v;
    v.kind = Json::Number;
    char *end = nullptr;
    v.number = std::strtod(lexeme.c_str(), &end);
    if (lexeme.empty() || *end)
      fail("expected a value");
    if (integral) {
      errno = 0;
      long long i = std::strtoll(lexeme.c_str(), &end, 10);
      if (errno == ERANGE && lexeme[0] != '-') {
        errno = 0;
        unsigned long long u = std::strtoull(lexeme.c_str(), &end, 10);
        i = static_cast<long long>(u);
      }
      if (errno == ERANGE)
        fail("integer out of 64-bit range");
      v.isInteger = true;
      v.integer = i;
    } else if (std::floor(v.number) == v.number &&
               std::fabs(v.number) < 9.007199254740992e15) {
      // 30.0 is also the integer 30 (sizes written by other tools).
      v.isInteger = true;
      v.integer = static_cast<int64_t>(v.number);
    }
    return v;
  }
  Json value(int depth) {
    skip();
    if (pos >= s.size())
      fail("unexpected end");
    if (depth > 256)
      fail("nested too deeply");
    Json v;
    char c = s[pos];
    if (c == '{') {
      ++pos;
      v.kind = Json::Object;
      if (eat('}'))
        return v;
      do {
        std::string key = str();
        if (!eat(':'))
          fail("expected ':'");
        v.object[key] = value(depth + 1);
      } while (eat(','));
      if (!eat('}'))
        fail("expected '}'");
    } else if (c == '[') {
      ++pos;
      v.kind = Json::Array;
      if (eat(']'))
        return v;
      do
        v.array.push_back(value(depth + 1));
      while (eat(','));
      if (!eat(']'))
        fail("expected ']'");
    } else if (c == '"') {
      v.kind = Json::String;
      v.string = str();
    } else if (s.compare(pos, 4, "true") == 0) {
      v.kind = Json::Bool;
      v.boolean = true;
      pos += 4;
    } else if (s.compare(pos, 5, "false") == 0) {
      v.kind = Json::Bool;
      pos += 5;
    } else if (s.compare(pos, 4, "null") == 0) {
      pos += 4;
    } else {
      return number();
    }
    return v;
  }
  const std::string &s;
  size_t pos = 0;
};

} // namespace

Json parseJson(const std::string &text) { return JsonParser(text).parse(); }

} // namespace fa_runner
