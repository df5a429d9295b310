// Fuzzes the CLI's edge for the daemon's answers: ParseDocument() on arbitrary bytes, then the
// three decoders and --json's printing on whatever parses.
//
// Input: the bytes of an HTTP body, as the CLI would receive them from whatever serves the
// socket.
//
// Beyond "never crash, never throw": a refusal always has a reason; a parsed document nests at
// most kMaxDocumentDepth levels; its printed form parses to a document that prints the same; and
// a document that decodes still decodes after that round trip.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cli/document.h"
#include "cli/model.h"
#include "cli/table.h"
#include "fuzz_support.h"

namespace tracegap {
namespace {

int Depth(const cli::Document& v) {
  if (!v.is_structured()) return 0;
  int deepest = 0;
  for (const cli::Document& child : v) deepest = std::max(deepest, Depth(child));
  return deepest + 1;
}

// Decodes `doc` as each of the API's documents; bit i of the result says whether decoder i
// accepted it.
unsigned DecodeAll(const cli::Document& doc) {
  std::string error;
  std::vector<cli::ProcessRow> rows;
  cli::ProcessDetail detail;
  cli::StatusInfo status;
  cli::EdgeList edges;
  unsigned ok = 0;
  if (cli::DecodeProcessList(doc, &rows, &error)) ok |= 1;
  if (cli::DecodeProcessDetail(doc, &detail, &error)) ok |= 2;
  if (cli::DecodeStatus(doc, &status, &error)) ok |= 4;
  if (cli::DecodeEdges(doc, &edges, &error)) {
    ok |= 8;
    // What `tracegap edges` prints from any document it accepts.
    (void)cli::FormatEdgeTable(cli::SelectEdges(edges.edges, true));
  }
  return ok;
}

}  // namespace
}  // namespace tracegap

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace tracegap;  // NOLINT: this file's own helpers
  const std::string input(reinterpret_cast<const char*>(data), size);  // exact-size copy
  std::string error;
  const std::optional<cli::Document> doc = cli::ParseDocument(input, &error);
  if (!doc) {
    FUZZ_CHECK(!error.empty());
    return 0;
  }
  FUZZ_CHECK(Depth(*doc) <= cli::kMaxDocumentDepth);
  const unsigned decoded = DecodeAll(*doc);
  for (int indent : {-1, 2}) {
    const std::string printed = cli::PrintDocument(*doc, indent);
    const std::optional<cli::Document> again = cli::ParseDocument(printed, &error);
    FUZZ_CHECK(again.has_value());
    FUZZ_CHECK(cli::PrintDocument(*again, indent) == printed);
    FUZZ_CHECK(DecodeAll(*again) == decoded);
  }
  return 0;
}
