// The pool file: whatever it holds ends in pools or an error naming the fault, never a crash; an accepted file
// decodes to pools whose names are unique and whose sizes are ordered.
import FuzzSupport
import Foundation
import PlazaFleet

@_cdecl("FuzzPoolFile_main")
public func main(argc: CInt, argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc: argc, argv: argv) { data, count in fuzz(data, count) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let data else { return 0 }
    let start = UnsafeRawPointer(data)
    let input = Data(bytes: start, count: count)
    guard let file = try? PoolFile.parse(input, defaultProvider: .local(LocalProviderSettings())) else { return 0 }
    precondition(Set(file.pools.map(\.name)).count == file.pools.count)
    for pool in file.pools { precondition(pool.min <= pool.max && (pool.min...pool.max).contains(pool.desired)) }
    return 0
}
