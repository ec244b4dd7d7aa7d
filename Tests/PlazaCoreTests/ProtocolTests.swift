import Testing
import Foundation
import PlazaCore
@testable import PlazaProtocol

@Suite struct ClientFrameTests {
    func decode(_ text: String) throws(ClientFrame.DecodingError) -> ClientFrame {
        try ClientFrame.decode(Array(text.utf8))
    }

    func code(_ text: String) -> ErrorCode? {
        do {
            _ = try decode(text)
            return nil
        } catch {
            return error.code
        }
    }

    @Test func decodesEveryClientFrame() throws {
        #expect(try decode(#"{"type":"hello","token":"t","since":4}"#) == .hello(token: "t", since: 4, audio: nil, video: nil))
        #expect(try decode(#"{"type":"chat","id":"m1","text":"hi"}"#) == .chat(id: "m1", text: "hi"))
        #expect(try decode(#"{"type":"move","x":1.5,"y":-2,"dir":"left"}"#) == .move(Position(x: 1.5, y: -2, dir: "left")))
        #expect(try decode(#"{"type":"media","audio":false,"video":true}"#) == .media(audio: false, video: true))
        #expect(try decode(#"{"type":"app","data":{"emoji":"🎉"}}"#) == .app(data: .object([("emoji", .string("🎉"))]), to: nil))
        #expect(try decode(#"{"type":"signal","to":"p2","data":{"sdp":"x"}}"#) == .signal(to: ParticipantID("p2"), data: .object([("sdp", .string("x"))])))
        #expect(try decode(#"{"type":"ping"}"#) == .ping)
    }

    @Test func refusesBadFramesWithStableCodes() {
        #expect(code("not json") == .invalidJSON)
        #expect(code("[1,2]") == .invalidJSON)
        #expect(code(#"{"type":"dance"}"#) == .unknownType)
        #expect(code(#"{"text":"no type"}"#) == .invalidFrame)
        #expect(code(#"{"type":"chat","text":"no id"}"#) == .invalidFrame)
        #expect(code(#"{"type":"chat","id":"m","text":5}"#) == .invalidFrame)
        #expect(code(#"{"type":"move","x":1}"#) == .invalidFrame)
        #expect(code(#"{"type":"move","x":1e9,"y":0}"#) == .invalidFrame)
        #expect(code(#"{"type":"media","audio":"off","video":false}"#) == .invalidFrame)
        #expect(code(#"{"type":"hello","token":"t","since":-1}"#) == .invalidFrame)
        // As docs/protocol.md says: an offset that is not an integer from 0 to 2⁶³ − 1 is a bad field, not bad JSON.
        for since in ["1.5", "9223372036854775808", "1e400", "-0.5"] {
            #expect(code(#"{"type":"hello","token":"t","since":\#(since)}"#) == .invalidFrame, "since \(since)")
        }
        #expect(code("null") == .invalidJSON, "JSON, but not an object")
        #expect(code("[1]") == .invalidJSON)
        #expect(code("") == .invalidJSON)
    }
}

@Suite struct ServerFrameTests {
    @Test func framesAreValidJSONEvenWithHostileText() throws {
        let message = ChatMessage(
            room: RoomName("r")!, offset: 7, clientID: "id\"1", sender: ParticipantID("p"), senderName: "N\\n",
            text: "line1\nline2\t\u{1}\"quoted\" ✓", timestamp: 1)
        let bytes = ServerFrame.chat(message)
        #expect(!bytes.contains(UInt8(ascii: "\n")), "a frame never contains a raw newline: it separates frames")
        let decoded = try JSONDecoder().decode(JSONValue.self, from: Data(bytes))
        #expect(decoded["text"] == .string(message.text))
        #expect(decoded["id"] == .string("id\"1"))
        #expect(decoded["offset"] == .number(7))
    }

    @Test func movesAreAssembledFromCellFragments() throws {
        let one = ServerFrame.moveEntries([AvatarState(id: ParticipantID("a"), position: Position(x: 1, y: 2.5))])
        let two = ServerFrame.moveEntries([AvatarState(id: ParticipantID("b"), position: Position(x: -3, y: 4, dir: "up"))])
        let frame = try JSONDecoder().decode(JSONValue.self, from: Data(ServerFrame.moves(fragments: [one, two])))
        guard case .array(let moves)? = frame["moves"] else { Issue.record("no moves"); return }
        #expect(moves.count == 2)
        #expect(moves[0]["y"] == .number(2.5))
        #expect(moves[1]["dir"] == .string("up"))
    }
}

@Suite struct FastPathTests {
    static let flat = [
        #"{"type":"move","x":12.25,"y":-3,"dir":"up"}"#,
        #"{ "type" : "chat", "id":"a\"b", "text":"line\nnext \\ done" }"#,
        #"{"type":"media","audio":true,"video":false,"extra":null}"#,
        #"{"type":"hello","token":"t","since":42}"#,
        #"{"type":"app","data":"hi"}"#,
        #"{"type":"teleport"}"#,
        #"{"type":"move","x":1e2,"y":0}"#,
        #"{"type":"move","x":0.1,"y":-0.30000000000000004}"#,
        #"{"type":"move","x":12345.678901234,"y":123456789012345678}"#,
        #"{"type":"move","x":1.7976931348623157E+308,"y":4.9e-324}"#,
        #"{"type":"hello","token":"t","since":0e+4}"#,
        #"{"type":"hello","token":"t","since":0e4}"#,
        #"{"type":"move","x":0.00e13,"y":-0.0e8}"#,
        #"{"type":"move","x":-0.00e1,"y":0.000E-1}"#,
    ]
    /// Frames the fast path must decline: the reference decoder alone decides them.
    static let declined = [
        #"{"type":"chat","id":"é","text":"\u00e9"}"#,
        #"{"type":"move","x":01,"y":0}"#,
        #"{"type":"move","x":1.,"y":0}"#,
        #"{"type":"move","x":1e,"y":0}"#,
        #"{"type":"app","data":[0.00e13,"0e4",{"a":-0e1},1.0e1]}"#,
        #"{"type":"chat","id":"x","text":"t","id":"y"}"#,
        #"{"type":"app","data":{"n":1}}"#,
        #"{"type":"chat","id":5,"text":"t"}"#,
        "not json",
    ]

    @Test(arguments: flat + declined)
    func agreesWithTheReferenceDecoder(text: String) {
        let bytes = Array(text.utf8)
        let fast = Result { () throws(ClientFrame.DecodingError) in try ClientFrame.decode(bytes) }
        let reference = Result { () throws(ClientFrame.DecodingError) in try ClientFrame.decodeWithJSONDecoder(bytes) }
        switch (fast, reference) {
        case (.success(let a), .success(let b)): #expect(a == b)
        case (.failure(let a), .failure(let b)): #expect(a.code == b.code)
        default: Issue.record("fast \(fast) and reference \(reference) disagree on \(text)")
        }
    }

    /// Well-formed JSON whose number no Double holds names the field rather than calling the frame malformed.
    @Test(arguments: ["1e400", "-1e400", "1e-400", "1234e-678"])
    func aNumberNoDoubleHoldsIsAnInvalidField(number: String) {
        #expect(throws: ClientFrame.DecodingError(code: .invalidFrame, message: "'since' must be an integer ≥ 0")) {
            try ClientFrame.decode(Array(#"{"type":"hello","token":"t","since":\#(number)}"#.utf8))
        }
        #expect(throws: ClientFrame.DecodingError(code: .invalidFrame, message: "coordinates must be within ±1000000")) {
            try ClientFrame.decode(Array(#"{"type":"move","x":\#(number),"y":0}"#.utf8))
        }
    }

    @Test func answersFlatFramesAndDeclinesTheRest() {
        for text in Self.flat { #expect(ClientFrame.fastEnvelope(Array(text.utf8)) != nil, "\(text)") }
        for text in Self.declined { #expect(ClientFrame.fastEnvelope(Array(text.utf8)) == nil, "\(text)") }
    }
}

@Suite struct JSONSyntaxTests {
    @Test(arguments: [
        #"{}"#, #"[]"#, #" {"a":[1,-2.5e+3,{"b":null}],"c":"\u00e9\n","d":true} "#, #"0"#, #""x""#, #"[[[[]]]]"#,
        #"{"a":{"b":{"c":[false]}}}"#,
    ])
    func wellFormed(text: String) {
        #expect(JSONSyntax.isWellFormed(Array(text.utf8)))
    }

    @Test(arguments: [
        "", "{", #"{"a"}"#, #"{"a":}"#, #"{"a":1,}"#, "[1,]", "01", "1.", "-", "1e", #""\x""#, "\"a\u{0}b\"", #""\u12"#,
        "tru", "{} {}", #"{"a":1"#, "[1 2]", #"{"a" 1}"#,
    ])
    func malformed(text: String) {
        #expect(!JSONSyntax.isWellFormed(Array(text.utf8)))
    }

    /// Zeros with an exponent, which Foundation's `JSONDecoder` may call corrupted, are rewritten; strings and other
    /// numbers are kept as they are.
    @Test func rewritesZerosWithAnExponent() throws {
        let text = #"{"a":[0e4,-0.00e+13,0.01e1,1e2,0,"0e4\"0e4"],"b":0.0E-1}"#
        let rewritten = try #require(JSONSyntax.zerosWithoutExponent(Array(text.utf8)))
        #expect(String(decoding: rewritten, as: UTF8.self) == #"{"a":[0,-0,0.01e1,1e2,0,"0e4\"0e4"],"b":0}"#)
        #expect(JSONSyntax.zerosWithoutExponent(Array(#"{"a":[1e2,0.5]}"#.utf8)) == nil)
        #expect(JSONSyntax.zerosWithoutExponent(Array(#"{"a":0e4"#.utf8)) == nil)
    }

    @Test func aNestedZeroWithAnExponentIsRead() throws {
        let frame = try ClientFrame.decode(Array(#"{"type":"app","data":{"n":0.00e13,"s":"0e4"}}"#.utf8))
        guard case .app(let data, _) = frame else { Issue.record("decoded \(frame)"); return }
        #expect(data["n"] == .number(0))
        #expect(data["s"] == .string("0e4"))
    }

    @Test func deepNestingCostsNoStack() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(JSONSyntax.isWellFormed(Array(deep.utf8)))
    }

    /// A malformed value deep inside `data` is malformed JSON, whatever order the decoder visits members in.
    @Test func aMalformedNestedValueIsInvalidJSON() {
        let text = "{\"type\":\"signal\",\"to\":\"g-1\",\"data\":{\"a\":\"%\u{0}\",\"b\":{\"c\u{4}\":1}}}"
        for _ in 0..<20 {
            #expect(throws: ClientFrame.DecodingError(code: .invalidJSON, message: "the frame is not a JSON object")) {
                try ClientFrame.decode(Array(text.utf8))
            }
        }
    }
}

@Suite struct DeepFrameTests {
    /// The deepest `data` a message of `limits.frameBytes` can carry is refused or decoded, never a crash.
    @Test(arguments: [500, 8_000, 60_000])
    func deeplyNestedDataDoesNotCrash(depth: Int) {
        let text = #"{"type":"app","data":"# + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "}"
        let result = Result { () throws(ClientFrame.DecodingError) in try ClientFrame.decode(Array(text.utf8)) }
        switch result {
        case .success(let frame): #expect(depth <= 512, "decoded \(depth) levels: \(frame.type)")
        case .failure(let error): #expect(depth > 512 && error.code == .invalidJSON, "\(error)")
        }
    }
}
