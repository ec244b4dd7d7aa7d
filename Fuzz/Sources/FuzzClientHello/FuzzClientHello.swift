// The ClientHello peek that chooses a certificate before the TLS handshake (an ACME TLS-ALPN-01 challenge): the
// first bytes of any connection to the https port, so anyone's. Whatever they are: a hello, incomplete or
// invalid, never a crash; a hello's server name and protocols are within TLS's own bounds, and every strict
// prefix of the bytes that made a hello is incomplete (the peek waits for more, it never decides early).
import FuzzSupport
import PlazaTLS

@_cdecl("FuzzClientHello_main")
public func main(argc: CInt, argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc: argc, argv: argv) { data, count in fuzz(data, count) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let data else { return 0 }
    let bytes = Array(UnsafeRawBufferPointer(start: UnsafeRawPointer(data), count: count))
    guard case .hello(let hello) = ClientHello.read(bytes) else { return 0 }
    precondition((hello.serverName?.utf8.count ?? 0) <= 255, "a server name longer than TLS allows")
    precondition(hello.protocols.allSatisfy { !$0.isEmpty && $0.utf8.count <= 255 }, "an ALPN protocol TLS does not allow")
    if !bytes.isEmpty {
        precondition(ClientHello.read(bytes.dropLast()) != .invalid, "a prefix of a hello was judged invalid")
    }
    return 0
}
