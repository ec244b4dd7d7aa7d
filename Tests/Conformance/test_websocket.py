"""WebSocket conformance (RFC 6455) of Plaza's `/ws`, modelled on the Autobahn testsuite's categories:
1 framing, 2 pings and pongs, 3 reserved bits, 4 opcodes, 5 fragmentation, 6 UTF-8, 7 close handling,
9 limits; plus client masking and the upgrade handshake.

Frames are built byte by byte (see `wire.py`) so the tests can send what no library would. Every test runs on
a joined connection (`hello` answered by `welcome`), so the application-level `{"type":"ping"}` →
`{"type":"pong"}` shows that a message was received whole and the connection still works.

"Closes with C" means: the server sends a close frame with status code C, and after the client answers it
the TCP connection ends within a few seconds. A protocol error must end the connection (1002, 1007, 1009)
rather than be ignored or answered: an endpoint that tolerates malformed framing can be desynchronised, and
one that passes invalid UTF-8 on hands its application strings that are not text.
"""

import pytest

import wire
from wire import BINARY, CLOSE, CONTINUATION, PING, PONG, RSV1, RSV2, RSV3, TEXT

PING_MESSAGE = b'{"type":"ping"}'


# ---------------------------------------------------------------------------------------------------------
# 1. Framing

def test_empty_text_message_is_invalid_json_and_connection_stays_open(plaza, session):
    ws = session(plaza)
    ws.send_frame(TEXT, b"")
    error = ws.expect_json("error")
    assert error["code"] == "invalid_json", error
    ws.assert_alive()


@pytest.mark.parametrize("length", [125, 126, 65535], ids=["7-bit-125", "16-bit-126", "16-bit-65535"])
def test_text_message_lengths(plaza, session, length):
    ws = session(plaza)
    ws.send_frame(TEXT, wire.padded_ping(length))
    ws.expect_json("pong")


def test_text_message_with_64_bit_length_just_under_frame_limit(plaza_with, session):
    frame_bytes = 100_000
    server = plaza_with({"limits": {"frameBytes": frame_bytes}})
    ws = session(server)
    message = wire.padded_ping(frame_bytes - 10)
    assert wire.encode_frame(TEXT, message)[1] & 0x7F == 127, "the frame must use the 64-bit length"
    ws.send_frame(TEXT, message)
    ws.expect_json("pong")


def test_binary_message_is_invalid_frame_and_connection_stays_open(plaza, session):
    ws = session(plaza)
    ws.send_frame(BINARY, PING_MESSAGE)
    error = ws.expect_json("error")
    assert error["code"] == "invalid_frame", error
    ws.assert_alive()


# ---------------------------------------------------------------------------------------------------------
# 2. Pings and pongs

@pytest.mark.parametrize("length", [0, 125])
def test_ping_is_answered_with_same_payload(plaza, session, length):
    ws = session(plaza)
    payload = bytes(range(length))
    ws.send_frame(PING, payload)
    ws.expect_pong_frame(payload)
    ws.assert_alive()


def test_ping_with_126_byte_payload_closes_1002(plaza, session):
    ws = session(plaza)
    ws.send_frame(PING, b"x" * 126)
    ws.expect_close(1002)


def test_unsolicited_pong_is_ignored(plaza, session):
    ws = session(plaza)
    ws.send_frame(PONG, b"unsolicited")
    ws.send_frame(PONG, b"")
    ws.assert_alive()


def test_fragmented_ping_closes_1002(plaza, session):
    ws = session(plaza)
    ws.send_frame(PING, b"first", fin=False)
    ws.expect_close(1002)


# ---------------------------------------------------------------------------------------------------------
# 3. Reserved bits (no extension is negotiated, so every RSV bit must be 0)

@pytest.mark.parametrize("rsv", [RSV1, RSV2, RSV3, RSV1 | RSV2 | RSV3], ids=["rsv1", "rsv2", "rsv3", "all"])
@pytest.mark.parametrize("opcode", [TEXT, PING], ids=["text", "ping"])
def test_reserved_bits_close_1002(plaza, session, opcode, rsv):
    ws = session(plaza)
    ws.send_frame(opcode, PING_MESSAGE if opcode == TEXT else b"reserved", rsv=rsv)
    ws.expect_close(1002)


# ---------------------------------------------------------------------------------------------------------
# 4. Opcodes

@pytest.mark.parametrize("opcode", [0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF], ids=lambda op: f"{op:#x}")
def test_reserved_opcode_closes_1002(plaza, session, opcode):
    ws = session(plaza)
    ws.send_frame(opcode, b"" if opcode >= 0x8 else PING_MESSAGE)
    ws.expect_close(1002)


# ---------------------------------------------------------------------------------------------------------
# 5. Fragmentation

def test_text_message_in_two_fragments(plaza, session):
    ws = session(plaza)
    ws.send_frame(TEXT, PING_MESSAGE[:7], fin=False)
    ws.send_frame(CONTINUATION, PING_MESSAGE[7:])
    ws.expect_json("pong")


def test_text_message_in_many_fragments(plaza, session):
    ws = session(plaza)
    ws.send_frame(TEXT, PING_MESSAGE[:1], fin=False)
    for index in range(1, len(PING_MESSAGE) - 1):
        ws.send_frame(CONTINUATION, PING_MESSAGE[index:index + 1], fin=False)
        ws.send_frame(CONTINUATION, b"", fin=False)  # Empty fragments are allowed too.
    ws.send_frame(CONTINUATION, PING_MESSAGE[-1:])
    ws.expect_json("pong")


def test_ping_between_fragments_is_answered_and_message_completes(plaza, session):
    ws = session(plaza)
    ws.send_frame(TEXT, PING_MESSAGE[:7], fin=False)
    ws.send_frame(PING, b"between")
    ws.expect_pong_frame(b"between")
    ws.send_frame(CONTINUATION, PING_MESSAGE[7:])
    ws.expect_json("pong")


def test_continuation_without_a_message_closes_1002(plaza, session):
    ws = session(plaza)
    ws.send_frame(CONTINUATION, PING_MESSAGE)
    ws.expect_close(1002)


def test_new_text_frame_inside_fragmented_message_closes_1002(plaza, session):
    ws = session(plaza)
    ws.send_frame(TEXT, PING_MESSAGE[:7], fin=False)
    ws.send_frame(TEXT, PING_MESSAGE)
    ws.expect_close(1002)


@pytest.mark.parametrize("opcode", [CLOSE, PONG], ids=["close", "pong"])
def test_fragmented_control_frame_closes_1002(plaza, session, opcode):
    ws = session(plaza)
    ws.send_frame(opcode, wire.close_payload(1000) if opcode == CLOSE else b"part", fin=False)
    ws.expect_close(1002)


# ---------------------------------------------------------------------------------------------------------
# 6. UTF-8

INVALID_UTF8 = {
    "invalid-byte": b'{"type":"ping","note":"\xff"}',
    "overlong": b'{"type":"ping","note":"\xc0\xaf"}',
    "surrogate": b'{"type":"ping","note":"\xed\xa0\x80"}',
    "truncated-at-end": b'{"type":"ping"} \xe2\x82',
}


@pytest.mark.parametrize("payload", INVALID_UTF8.values(), ids=INVALID_UTF8.keys())
def test_invalid_utf8_closes_1007(plaza, session, payload):
    ws = session(plaza)
    ws.send_frame(TEXT, payload)
    ws.expect_close(1007)


def test_invalid_utf8_in_first_fragment_closes_1007_at_once(plaza, session):
    ws = session(plaza)
    ws.send_frame(TEXT, b'{"type":"ping","note":"\xff', fin=False)
    # The message is never finished: the server must fail it from the first fragment.
    ws.expect_close(1007)


@pytest.mark.parametrize("character", ["é", "€", "😀"], ids=["2-byte", "3-byte", "4-byte"])
def test_multibyte_character_split_across_fragments_is_accepted(plaza, session, character):
    ws = session(plaza)
    message = ('{"type":"ping","note":"' + character + '"}').encode()
    split = message.index(character.encode()) + 1  # Inside the character's bytes.
    ws.send_frame(TEXT, message[:split], fin=False)
    ws.send_frame(CONTINUATION, message[split:])
    ws.expect_json("pong")


# ---------------------------------------------------------------------------------------------------------
# 7. Close handling

def test_client_close_1000_is_answered_and_tcp_closed(plaza, session):
    ws = session(plaza)
    ws.send_close(1000)
    ws.expect_close(1000, reply=False)


def test_close_with_empty_payload_is_answered(plaza, session):
    ws = session(plaza)
    ws.send_close(None)
    frame = ws.read_close()
    assert frame.payload == b"" or frame.close_code == 1000, f"the server sent {frame.describe()}"
    ws.expect_tcp_end()


def test_close_with_one_byte_payload_closes_1002(plaza, session):
    ws = session(plaza)
    ws.send_frame(CLOSE, b"\x03")
    ws.expect_close(1002)


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000])
def test_close_with_invalid_code_closes_1002(plaza, session, code):
    ws = session(plaza)
    ws.send_close(code)
    ws.expect_close(1002)


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999])
def test_close_with_valid_code_is_answered(plaza, session, code):
    ws = session(plaza)
    ws.send_close(code, b"bye")
    ws.expect_close(code, 1000, reply=False)


def test_close_reason_with_invalid_utf8_closes_1007(plaza, session):
    ws = session(plaza)
    ws.send_close(1000, b"bad \xed\xa0\x80 reason")
    ws.expect_close(1007)


def test_frames_after_client_close_are_ignored(plaza, session):
    ws = session(plaza)
    ws.send_close(1000)
    ws.send_frame(TEXT, PING_MESSAGE)
    ws.send_frame(PING, b"after close")
    # `read_close` fails on a pong (or anything else) arriving before the close frame.
    frame = ws.read_close()
    assert frame.close_code == 1000, f"the server sent {frame.describe()}"
    ws.expect_tcp_end()


# ---------------------------------------------------------------------------------------------------------
# 9. Limits

def test_message_over_frame_limit_closes_1009(plaza_with, session):
    server = plaza_with({"limits": {"frameBytes": 4096}})
    ws = session(server)
    ws.send_frame(TEXT, wire.padded_ping(5000))
    ws.expect_close(1009)


def test_fragmented_message_over_frame_limit_closes_1009(plaza_with, session):
    server = plaza_with({"limits": {"frameBytes": 4096}})
    ws = session(server)
    message = wire.padded_ping(6000)
    ws.send_frame(TEXT, message[:2000], fin=False)
    ws.send_frame(CONTINUATION, message[2000:4000], fin=False)
    ws.send_frame(CONTINUATION, message[4000:])
    ws.expect_close(1009)


# ---------------------------------------------------------------------------------------------------------
# Masking: every client frame must be masked

@pytest.mark.parametrize("opcode", [TEXT, PING], ids=["text", "ping"])
def test_unmasked_client_frame_closes_1002(plaza, session, opcode):
    ws = session(plaza)
    ws.send_frame(opcode, PING_MESSAGE if opcode == TEXT else b"unmasked", mask=False)
    ws.expect_close(1002)


# ---------------------------------------------------------------------------------------------------------
# Upgrade handshake

def upgrade_headers(key: bool = True, version: str = "13"):
    headers = [("Upgrade", "websocket"), ("Connection", "Upgrade")]
    if key:
        headers.append(("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="))
    headers.append(("Sec-WebSocket-Version", version))
    return headers


def test_upgrade_without_key_is_400(plaza):
    response = wire.exchange(plaza.port, wire.request_bytes("GET", "/ws", upgrade_headers(key=False)))
    assert response.status == 400, response.status_line


def test_upgrade_with_version_8_is_426_naming_version_13(plaza):
    response = wire.exchange(plaza.port, wire.request_bytes("GET", "/ws", upgrade_headers(version="8")))
    assert response.status == 426, response.status_line
    assert response.header("Sec-WebSocket-Version") == "13", response.headers


def test_plain_get_of_ws_is_426_asking_for_websocket(plaza):
    response = wire.exchange(plaza.port, wire.request_bytes("GET", "/ws"))
    assert response.status == 426, response.status_line
    assert (response.header("Upgrade") or "").lower() == "websocket", response.headers
