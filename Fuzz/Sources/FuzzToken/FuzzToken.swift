// Tokens: arbitrary bytes as a token, and arbitrary claims signed with the key the server trusts (what a buggy
// or compromised auth service could send). Either way: a grant or an error, never a crash, and a grant only for
// a valid room, role and participant.
import FuzzSupport
import Crypto
import Foundation
import PlazaAuth
import PlazaCore
import Synchronization

private let secret = String(repeating: "k", count: 32)
private let authority = blocking { try! await TokenAuthority(secret: secret, external: .init(hmacSecret: secret)) }

@_cdecl("FuzzToken_main")
public func main(argc: CInt, argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc: argc, argv: argv) { data, count in fuzz(data, count) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let data else { return 0 }
    let start = UnsafeRawPointer(data)
    guard count > 0 else { return 0 }
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    let token: String
    if bytes[0] & 1 == 0 {
        token = String(decoding: bytes.dropFirst(), as: UTF8.self)
    } else {
        token = signed(claims: Data(bytes.dropFirst()))
    }
    for external in [false, true] {
        let grant = blocking { try? await external ? authority.verifyExternal(token) : authority.verifyOwn(token) }
        guard let grant else { continue }
        precondition(!grant.participant.rawValue.isEmpty && grant.participant.rawValue.utf8.count <= 128)
        precondition(external || grant.room != nil)
    }
    return 0
}

/// An HS256 JWT of `claims` (any bytes), signed with the trusted secret.
private func signed(claims: Data) -> String {
    func base64URL(_ data: some DataProtocol) -> String {
        Data(data).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
    let input = base64URL(Data(#"{"alg":"HS256","typ":"JWT"}"#.utf8)) + "." + base64URL(claims)
    let signature = HMAC<SHA256>.authenticationCode(for: Data(input.utf8), using: SymmetricKey(data: Data(secret.utf8)))
    return input + "." + base64URL(Data(signature))
}

/// Runs `body` to its end from synchronous code (libFuzzer calls in on its own thread).
private func blocking<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> T {
    let result = Mutex<T?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task {
        let value = await body()
        result.withLock { $0 = value }
        done.signal()
    }
    done.wait()
    return result.withLock { $0! }
}
