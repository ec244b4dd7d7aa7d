#if canImport(Glibc)
import Glibc
#endif

/// Free loopback ports for the servers tests and load generators start (PostgreSQL, Prometheus, `plaza`
/// processes), which must be told their port before they listen.
public enum LoopbackPort {
    /// No socket could be bound (the machine is out of file descriptors or ports).
    public struct Unavailable: Error {}

    /// A port on 127.0.0.1 that nothing listens on right now.
    public static func free() throws(Unavailable) -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Unavailable() }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw Unavailable() }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
