#pragma once
// The daemon's JSON answers as the CLI holds them: nlohmann/json values that keep the members'
// order, so that --json prints the document as the daemon sent it.
//
// ParseDocument() takes bytes from a socket, i.e. from whoever bound it: it is strict RFC 8259
// (no comments, trailing commas, NaN, invalid UTF-8, numbers beyond a double), rejects duplicate
// keys, bounds nesting depth, and is total: any bytes yield a document or an error, never an
// exception or a crash (it is fuzzed: tests/fuzz/fuzz_api_json.cc).

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace tracegap::cli {

using Document = nlohmann::ordered_json;

// Deeper documents are refused: printing and destroying a value recurse once per level.
inline constexpr int kMaxDocumentDepth = 64;

// Parses exactly one JSON value (with surrounding whitespace). On failure returns nullopt and
// sets *error (if not null) to a one-line reason, e.g. "nesting deeper than 64 levels".
std::optional<Document> ParseDocument(std::string_view text, std::string* error,
                                      int max_depth = kMaxDocumentDepth);

// The document as text, indented by `indent` spaces per level (-1: compact).
std::string PrintDocument(const Document& doc, int indent);

}  // namespace tracegap::cli
