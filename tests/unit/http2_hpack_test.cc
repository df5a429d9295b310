#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "protocols/http2/hpack.h"
#include "support/http2_frames.h"

namespace tracegap::http2 {
namespace {

using testutil::Encoder;
using testutil::Fields;

const Fields kRequest = {{":method", "GET"},
                         {":scheme", "https"},
                         {":path", "/x?y=1"},
                         {":authority", "a.example"},
                         {"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
                         {"x-custom", "v a l u e"}};

Fields Copy(std::span<const HeaderField> fields) {
  Fields out;
  for (const HeaderField& f : fields) out.emplace_back(f.name, f.value);
  return out;
}

// Decodes one block fed in pieces of at most `piece` bytes; returns the first error.
Error Decode(HpackDecoder& d, std::string_view block, std::size_t piece = SIZE_MAX) {
  d.BeginBlock();
  Error first = Error::kNone;
  do {
    const std::string_view part = block.substr(0, piece);
    block.remove_prefix(part.size());
    const Error e = d.Feed(part, block.empty());
    if (first == Error::kNone) first = e;
  } while (!block.empty());
  return first;
}

TEST(HpackDecoder, RoundTripsWithNghttp2Deflater) {
  Encoder enc;
  HpackDecoder dec;
  for (int i = 0; i < 3; ++i) {  // the second and third blocks use the dynamic table
    ASSERT_EQ(Decode(dec, enc.Encode(kRequest)), Error::kNone);
    ASSERT_TRUE(dec.complete());
    EXPECT_EQ(Copy(dec.fields()), kRequest);
  }
  EXPECT_GT(dec.dynamic_table_size(), 0u);
}

TEST(HpackDecoder, FragmentsOfAnySizeGiveTheSameFields) {
  for (std::size_t piece : {1, 2, 3, 7, 64}) {
    Encoder enc;
    HpackDecoder dec;
    for (int i = 0; i < 3; ++i) {
      ASSERT_EQ(Decode(dec, enc.Encode(kRequest), piece), Error::kNone) << piece;
      EXPECT_EQ(Copy(dec.fields()), kRequest) << piece;
    }
  }
}

TEST(HpackDecoder, NamesAreLowercased) {
  // nghttp2's deflater sends names as given; HTTP/2 requires lowercase, the decoder ensures it.
  Encoder enc;
  HpackDecoder dec;
  ASSERT_EQ(Decode(dec, enc.Encode({{"TraceParent", " 00-x "}})), Error::kNone);
  ASSERT_EQ(dec.fields().size(), 1u);
  EXPECT_EQ(dec.fields()[0].name, "traceparent");
  EXPECT_EQ(dec.fields()[0].value, " 00-x ");  // values as on the wire
}

TEST(HpackDecoder, TableSizeUpdateAboveTheLimitIsInvalid) {
  Encoder enc(8192);
  enc.ChangeTableSize(8192);  // as if the peer had said 8192, but the decoder was not told
  HpackDecoder dec;
  EXPECT_EQ(Decode(dec, enc.Encode(kRequest)), Error::kHpackInvalid);
  EXPECT_TRUE(dec.failed());
  EXPECT_EQ(dec.Feed("\x82", true), Error::kNone);  // a failed decoder stays quiet
}

TEST(HpackDecoder, RaisedLimitAcceptsTheLargerTable) {
  Encoder enc(8192);
  enc.ChangeTableSize(8192);
  HpackDecoder dec;
  dec.SetTableSizeLimit(8192);
  ASSERT_EQ(Decode(dec, enc.Encode(kRequest)), Error::kNone);
  EXPECT_EQ(Copy(dec.fields()), kRequest);
}

TEST(HpackDecoder, LimitIsCapped) {
  Encoder enc(1 << 20);
  enc.ChangeTableSize(1 << 20);
  HpackDecoder dec({.max_table_size = 65536});
  dec.SetTableSizeLimit(1 << 20);
  EXPECT_EQ(dec.table_size_limit(), 65536u);
  EXPECT_EQ(Decode(dec, enc.Encode(kRequest)), Error::kHpackInvalid);
}

TEST(HpackDecoder, LoweredLimitRequiresTheEncoderToUpdate) {
  {
    Encoder enc;
    HpackDecoder dec;
    ASSERT_EQ(Decode(dec, enc.Encode(kRequest)), Error::kNone);
    dec.SetTableSizeLimit(256);  // the encoder was not told: its next block has no update
    EXPECT_EQ(Decode(dec, enc.Encode(kRequest)), Error::kHpackInvalid);
  }
  Encoder enc;
  HpackDecoder dec;
  ASSERT_EQ(Decode(dec, enc.Encode(kRequest)), Error::kNone);
  dec.SetTableSizeLimit(256);
  enc.ChangeTableSize(256);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(Decode(dec, enc.Encode(kRequest)), Error::kNone);
    EXPECT_EQ(Copy(dec.fields()), kRequest);
    EXPECT_LE(dec.dynamic_table_size(), 256u);
  }
}

TEST(HpackDecoder, LimitChangeInsideABlockWaitsForTheNextOne) {
  Encoder enc;
  HpackDecoder dec;
  const std::string block = enc.Encode(kRequest);
  dec.BeginBlock();
  ASSERT_EQ(dec.Feed(std::string_view(block).substr(0, 5), false), Error::kNone);
  dec.SetTableSizeLimit(16384);
  ASSERT_EQ(dec.Feed(std::string_view(block).substr(5), true), Error::kNone);
  EXPECT_EQ(Copy(dec.fields()), kRequest);
  EXPECT_EQ(dec.table_size_limit(), 16384u);
}

TEST(HpackDecoder, InvalidInput) {
  const std::vector<std::string> bad = {
      std::string("\x80", 1),                      // index 0
      std::string("\xbe", 1),                      // index 62: the dynamic table is empty
      std::string("\xff\xff\xff\xff\xff\x0f", 6),  // index far beyond the table
      std::string("\x00\x01"
                  "a"
                  "\x84\xff\xff\xff\xff",
                  8),  // Huffman with EOS in it
      std::string("\x00\x01"
                  "a"
                  "\x81\x00",
                  5),                  // Huffman padding not all ones
      std::string("\x3f\xe1\x3f", 3),  // size update to 8192 > 4096
      std::string("\x82\x20", 2),      // size update after a field
      std::string("\x00\x05"
                  "ab",
                  4),              // literal cut short by the block's end
      std::string("\x40\x7f", 2),  // length prefix cut short
  };
  for (const std::string& block : bad) {
    HpackDecoder dec;
    EXPECT_EQ(Decode(dec, block), Error::kHpackInvalid) << testing::PrintToString(block);
    EXPECT_FALSE(dec.complete());
    EXPECT_TRUE(dec.failed());
  }
}

TEST(HpackDecoder, BlockTooLarge) {
  Encoder enc;
  HpackDecoder dec({.max_block_bytes = 1000});
  EXPECT_EQ(Decode(dec, enc.Encode({{"x-big", std::string(2000, 'b')}}), 300),
            Error::kHeaderBlockTooLarge);
  EXPECT_TRUE(dec.failed());
}

TEST(HpackDecoder, BombIsCutOffWithBoundedMemoryAndTheTableStaysInStep) {
  Encoder enc;
  HpackDecoder dec;
  // One ~3 KB entry referenced 3000 times: ~6 KB of input, ~9 MB decoded.
  const Fields big = {{"x-bomb", std::string(3000, 'B')}};
  Fields bomb;
  for (int i = 0; i < 3000; ++i) bomb.push_back(big[0]);
  const std::string block = enc.Encode(bomb);
  EXPECT_LT(block.size(), 7000u);
  EXPECT_EQ(Decode(dec, block, 1024), Error::kDecodedTooLarge);
  EXPECT_FALSE(dec.complete());
  EXPECT_FALSE(dec.failed());
  EXPECT_LE(dec.arena_capacity(), HpackLimits{}.max_decoded_bytes);
  // The decoder kept up with the encoder's table, so the next block (which refers to it) decodes.
  Fields next = kRequest;
  next.push_back(big[0]);
  ASSERT_EQ(Decode(dec, enc.Encode(next)), Error::kNone);
  EXPECT_EQ(Copy(dec.fields()), next);
  EXPECT_LE(dec.arena_capacity(), HpackLimits{}.max_decoded_bytes);
}

TEST(HpackDecoder, ManyEmptyFieldsCountTheirOverhead) {
  Encoder enc;
  HpackDecoder dec({.max_decoded_bytes = 32 * 100});
  Fields many(101, {"a", ""});
  EXPECT_EQ(Decode(dec, enc.Encode(many)), Error::kDecodedTooLarge);
}

TEST(HpackPeek, ClassifiesByStaticPseudoHeaders) {
  Encoder client;
  Encoder server;
  EXPECT_EQ(PeekBlockKind(client.Encode(kRequest)), BlockKind::kRequest);
  EXPECT_EQ(PeekBlockKind(client.Encode({{":method", "PUT"}, {":path", "/"}})),
            BlockKind::kRequest);  // literal with the static name :method
  EXPECT_EQ(PeekBlockKind(client.Encode({{":authority", "h"}, {":method", "GET"}})),
            BlockKind::kRequest);
  EXPECT_EQ(PeekBlockKind(server.Encode({{":status", "200"}})), BlockKind::kResponse);
  EXPECT_EQ(PeekBlockKind(server.Encode({{":status", "201"}})), BlockKind::kResponse);
  EXPECT_EQ(PeekBlockKind(server.Encode({{"grpc-status", "0"}})), BlockKind::kUnknown);
  server.ChangeTableSize(0);
  EXPECT_EQ(PeekBlockKind(server.Encode({{":status", "404"}})), BlockKind::kResponse);
  // A dynamic table reference says nothing without the table.
  Encoder again;
  again.Encode({{":authority", "h.example"}});
  EXPECT_EQ(PeekBlockKind(again.Encode({{":authority", "h.example"}})), BlockKind::kUnknown);
  EXPECT_EQ(PeekBlockKind(""), BlockKind::kUnknown);
  EXPECT_EQ(PeekBlockKind("\x3f"), BlockKind::kUnknown);
  EXPECT_EQ(PeekBlockKind("\xff\xff\xff\xff\xff\xff\xff"), BlockKind::kUnknown);
}

TEST(HpackTableSizeTracker, RaisesAtOnceLowersOnAck) {
  TableSizeTracker t(65536);
  EXPECT_EQ(t.limit(), 4096u);
  EXPECT_TRUE(t.OnSettings(16384));
  EXPECT_EQ(t.limit(), 16384u);
  EXPECT_TRUE(t.OnSettings(std::nullopt));
  EXPECT_TRUE(t.OnSettings(1024));
  EXPECT_EQ(t.limit(), 16384u);
  t.OnAck();  // 16384 acknowledged
  t.OnAck();  // no value
  EXPECT_EQ(t.limit(), 16384u);
  t.OnAck();  // 1024
  EXPECT_EQ(t.limit(), 1024u);
  t.OnAck();  // nothing pending: ignored
  EXPECT_EQ(t.limit(), 1024u);
  EXPECT_TRUE(t.OnSettings(1u << 30));
  EXPECT_EQ(t.limit(), 65536u);  // capped
  t.SetUnknown();
  t.OnAck();
  EXPECT_EQ(t.limit(), 65536u);
}

TEST(HpackTableSizeTracker, Flood) {
  TableSizeTracker t(65536);
  for (std::size_t i = 0; i < TableSizeTracker::kMaxPending; ++i) EXPECT_TRUE(t.OnSettings(100));
  EXPECT_FALSE(t.OnSettings(200));  // the oldest is taken as acknowledged
  EXPECT_EQ(t.limit(), 200u);
  for (std::size_t i = 0; i < TableSizeTracker::kMaxPending; ++i) t.OnAck();
  EXPECT_EQ(t.limit(), 200u);
}

}  // namespace
}  // namespace tracegap::http2
