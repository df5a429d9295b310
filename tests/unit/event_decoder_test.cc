#include "capture/event_decoder.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "tracegap.h"

namespace tracegap {
namespace {

// A ring buffer record: 8-byte aligned like the real ones, big enough for any valid event.
struct alignas(8) Record {
  uint8_t bytes[sizeof(tg_data_event) + TG_MAX_COPY + 64] = {};
  size_t size = 0;

  std::span<const uint8_t> span() const { return {bytes, size}; }
};

tg_event_header MakeHeader(uint8_t kind) {
  tg_event_header h{};
  h.kind = kind;
  h.direction = TG_DIR_INGRESS;
  h.flags = TG_DATA_CONTINUATION | TG_DATA_NEW_CONN;
  h.tgid = 4242;
  h.tid = 4243;
  h.conn_id = 0x1122334455667788ull;
  h.ts_ns = 987654321012345ull;
  std::memcpy(h.comm, "nginx", 5);
  return h;
}

// A data event carrying `data`, with data_len == data.size() and a record padded to 8 bytes.
Record MakeDataRecord(std::string_view data, tg_event_header hdr = MakeHeader(TG_EVENT_DATA)) {
  Record r;
  tg_data_event ev{};
  ev.hdr = hdr;
  ev.tuple.family = 2;
  ev.tuple.local_port = 8080;
  ev.tuple.remote_port = 54321;
  const uint8_t local[4] = {127, 0, 0, 1};
  const uint8_t remote[4] = {10, 1, 2, 3};
  std::memcpy(ev.tuple.local_addr, local, sizeof(local));
  std::memcpy(ev.tuple.remote_addr, remote, sizeof(remote));
  ev.syscall_bytes = static_cast<uint32_t>(data.size()) + 100;
  ev.data_len = static_cast<uint32_t>(data.size());
  std::memcpy(r.bytes, &ev, sizeof(ev));
  std::memcpy(r.bytes + sizeof(ev), data.data(), data.size());
  r.size = (sizeof(ev) + data.size() + 7) / 8 * 8;
  return r;
}

void SetDataLen(Record& r, uint32_t data_len) {
  std::memcpy(r.bytes + offsetof(tg_data_event, data_len), &data_len, sizeof(data_len));
}

TEST(EventDecoderTest, ValidDataEvent) {
  const std::string payload = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  const Record r = MakeDataRecord(payload);
  const DecodedEvent ev = DecodeEvent(r.span());

  ASSERT_EQ(ev.error, DecodeError::kNone);
  EXPECT_EQ(ev.kind, TG_EVENT_DATA);
  const DataEvent& d = ev.data;
  ASSERT_NE(d.header, nullptr);
  ASSERT_NE(d.tuple, nullptr);
  // The event points into the record rather than at a copy.
  EXPECT_EQ(static_cast<const void*>(d.header), static_cast<const void*>(r.bytes));
  EXPECT_EQ(static_cast<const void*>(d.tuple), static_cast<const void*>(r.bytes + 48));
  EXPECT_EQ(d.header->kind, TG_EVENT_DATA);
  EXPECT_EQ(d.header->tgid, 4242u);
  EXPECT_EQ(d.header->tid, 4243u);
  EXPECT_EQ(d.header->conn_id, 0x1122334455667788ull);
  EXPECT_EQ(d.header->ts_ns, 987654321012345ull);
  EXPECT_EQ(d.direction, Direction::kIngress);
  EXPECT_EQ(d.flags, TG_DATA_CONTINUATION | TG_DATA_NEW_CONN);
  EXPECT_EQ(d.syscall_bytes, payload.size() + 100);
  EXPECT_EQ(d.tuple->family, 2);
  EXPECT_EQ(d.tuple->local_port, 8080);
  EXPECT_EQ(d.tuple->remote_port, 54321);
  EXPECT_EQ(d.tuple->remote_addr[0], 10);
  EXPECT_EQ(d.tuple->remote_addr[3], 3);
  EXPECT_EQ(d.data, payload);
  EXPECT_EQ(static_cast<const void*>(d.data.data()),
            static_cast<const void*>(r.bytes + sizeof(tg_data_event)));
  EXPECT_EQ(d.comm, "nginx");
}

TEST(EventDecoderTest, EgressDirection) {
  tg_event_header hdr = MakeHeader(TG_EVENT_DATA);
  hdr.direction = TG_DIR_EGRESS;
  const Record r = MakeDataRecord("HTTP/1.1 200 OK\r\n\r\n", hdr);
  const DecodedEvent ev = DecodeEvent(r.span());
  ASSERT_EQ(ev.error, DecodeError::kNone);
  EXPECT_EQ(ev.data.direction, Direction::kEgress);
}

TEST(EventDecoderTest, EmptyDataIsValid) {
  const Record r = MakeDataRecord("");
  ASSERT_EQ(r.size, sizeof(tg_data_event));
  const DecodedEvent ev = DecodeEvent(r.span());
  ASSERT_EQ(ev.error, DecodeError::kNone);
  EXPECT_TRUE(ev.data.data.empty());
}

TEST(EventDecoderTest, CommOfFullLengthHasNoNul) {
  tg_event_header hdr = MakeHeader(TG_EVENT_DATA);
  std::memcpy(hdr.comm, "abcdefghijklmnop", TG_COMM_LEN);  // 16 chars, no terminator
  Record r = MakeDataRecord("x", hdr);
  const DecodedEvent ev = DecodeEvent(r.span());
  ASSERT_EQ(ev.error, DecodeError::kNone);
  EXPECT_EQ(ev.data.comm, "abcdefghijklmnop");
  EXPECT_EQ(ev.data.comm.size(), 16u);
}

TEST(EventDecoderTest, CommIsTrimmedAtFirstNul) {
  tg_event_header hdr = MakeHeader(TG_EVENT_DATA);
  std::memcpy(hdr.comm, "ab\0garbage", 10);
  const Record r = MakeDataRecord("x", hdr);
  const DecodedEvent ev = DecodeEvent(r.span());
  ASSERT_EQ(ev.error, DecodeError::kNone);
  EXPECT_EQ(ev.data.comm, "ab");
}

TEST(EventDecoderTest, CloseEvent) {
  Record r;
  const tg_event_header hdr = MakeHeader(TG_EVENT_CLOSE);
  std::memcpy(r.bytes, &hdr, sizeof(hdr));
  r.size = sizeof(hdr);
  const DecodedEvent ev = DecodeEvent(r.span());
  ASSERT_EQ(ev.error, DecodeError::kNone);
  EXPECT_EQ(ev.kind, TG_EVENT_CLOSE);
  EXPECT_EQ(ev.close.conn_id, 0x1122334455667788ull);
  EXPECT_EQ(ev.close.ts_ns, 987654321012345ull);
}

TEST(EventDecoderTest, TooShortForAnyHeader) {
  Record r;
  const tg_event_header hdr = MakeHeader(TG_EVENT_CLOSE);
  std::memcpy(r.bytes, &hdr, sizeof(hdr));
  for (size_t size : {size_t{0}, size_t{1}, size_t{8}, sizeof(tg_event_header) - 1}) {
    r.size = size;
    EXPECT_EQ(DecodeEvent(r.span()).error, DecodeError::kTooShort) << "size " << size;
  }
}

TEST(EventDecoderTest, DataEventTooShortForItsFixedPart) {
  Record r = MakeDataRecord("");
  for (size_t size : {sizeof(tg_event_header), sizeof(tg_data_event) - 8}) {
    r.size = size;
    EXPECT_EQ(DecodeEvent(r.span()).error, DecodeError::kTooShort) << "size " << size;
  }
}

TEST(EventDecoderTest, UnknownKind) {
  for (uint8_t kind : {0, 4, 255}) {
    const Record r = MakeDataRecord("x", MakeHeader(kind));
    const DecodedEvent ev = DecodeEvent(r.span());
    EXPECT_EQ(ev.error, DecodeError::kUnknownKind) << "kind " << int{kind};
  }
}

TEST(EventDecoderTest, TlsUnseenCarriesNoData) {
  const Record empty = MakeDataRecord("", MakeHeader(TG_EVENT_TLS_UNSEEN));
  const DecodedEvent ev = DecodeEvent(empty.span());
  ASSERT_EQ(ev.error, DecodeError::kNone);
  EXPECT_EQ(ev.kind, TG_EVENT_TLS_UNSEEN);
  EXPECT_TRUE(ev.data.data.empty());
  const Record with_data = MakeDataRecord("x", MakeHeader(TG_EVENT_TLS_UNSEEN));
  EXPECT_EQ(DecodeEvent(with_data.span()).error, DecodeError::kBadLength);
}

TEST(EventDecoderTest, Transport) {
  tg_event_header hdr = MakeHeader(TG_EVENT_DATA);
  hdr.transport = TG_TRANSPORT_TLS;
  const Record tls = MakeDataRecord("x", hdr);
  const DecodedEvent ev = DecodeEvent(tls.span());
  ASSERT_EQ(ev.error, DecodeError::kNone);
  EXPECT_TRUE(ev.data.tls);
  hdr.transport = TG_TRANSPORT_TCP;
  const Record tcp = MakeDataRecord("x", hdr);
  EXPECT_FALSE(DecodeEvent(tcp.span()).data.tls);
  hdr.transport = 2;
  const Record bad = MakeDataRecord("x", hdr);
  EXPECT_EQ(DecodeEvent(bad.span()).error, DecodeError::kBadTransport);
  EXPECT_EQ(Label(DecodeError::kBadTransport), "event_bad_transport");
}

TEST(EventDecoderTest, BadDirection) {
  for (uint8_t direction : {2, 255}) {
    tg_event_header hdr = MakeHeader(TG_EVENT_DATA);
    hdr.direction = direction;
    const Record r = MakeDataRecord("x", hdr);
    EXPECT_EQ(DecodeEvent(r.span()).error, DecodeError::kBadDirection)
        << "direction " << int{direction};
  }
}

TEST(EventDecoderTest, DataLenLargerThanRecord) {
  Record r = MakeDataRecord("12345678");  // record is exactly 96 + 8 bytes
  ASSERT_EQ(r.size, sizeof(tg_data_event) + 8);
  SetDataLen(r, 9);
  EXPECT_EQ(DecodeEvent(r.span()).error, DecodeError::kBadLength);
  SetDataLen(r, 0xffffffffu);
  EXPECT_EQ(DecodeEvent(r.span()).error, DecodeError::kBadLength);
  SetDataLen(r, 8);
  EXPECT_EQ(DecodeEvent(r.span()).error, DecodeError::kNone);
}

TEST(EventDecoderTest, DataLenAboveMaxCopy) {
  const std::string payload(TG_MAX_COPY, 'a');
  Record r = MakeDataRecord(payload);
  r.size += 8;  // room for one more byte, so only the TG_MAX_COPY limit can reject it
  ASSERT_EQ(DecodeEvent(r.span()).error, DecodeError::kNone);
  EXPECT_EQ(DecodeEvent(r.span()).data.data.size(), static_cast<size_t>(TG_MAX_COPY));
  SetDataLen(r, TG_MAX_COPY + 1);
  EXPECT_EQ(DecodeEvent(r.span()).error, DecodeError::kBadLength);
}

TEST(EventDecoderTest, PaddedRecordIsAccepted) {
  // 5 data bytes are padded to 8 by the ring buffer; the padding is not part of the data.
  Record r = MakeDataRecord("hello");
  EXPECT_EQ(r.size, sizeof(tg_data_event) + 8);
  r.bytes[sizeof(tg_data_event) + 5] = 'X';
  const DecodedEvent ev = DecodeEvent(r.span());
  ASSERT_EQ(ev.error, DecodeError::kNone);
  EXPECT_EQ(ev.data.data, "hello");

  // Much longer than needed is fine too.
  r.size += 64;
  const DecodedEvent longer = DecodeEvent(r.span());
  ASSERT_EQ(longer.error, DecodeError::kNone);
  EXPECT_EQ(longer.data.data, "hello");
}

TEST(EventDecoderTest, CloseEventMayBePadded) {
  Record r;
  const tg_event_header hdr = MakeHeader(TG_EVENT_CLOSE);
  std::memcpy(r.bytes, &hdr, sizeof(hdr));
  r.size = sizeof(hdr) + 8;
  const DecodedEvent ev = DecodeEvent(r.span());
  ASSERT_EQ(ev.error, DecodeError::kNone);
  EXPECT_EQ(ev.kind, TG_EVENT_CLOSE);
}

TEST(EventDecoderTest, ErrorLabels) {
  EXPECT_EQ(Label(DecodeError::kNone), "none");
  EXPECT_EQ(Label(DecodeError::kTooShort), "event_too_short");
  EXPECT_EQ(Label(DecodeError::kUnknownKind), "event_unknown_kind");
  EXPECT_EQ(Label(DecodeError::kBadDirection), "event_bad_direction");
  EXPECT_EQ(Label(DecodeError::kBadLength), "event_bad_length");
}

}  // namespace
}  // namespace tracegap
