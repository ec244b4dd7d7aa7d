// A map file is the operator's, but read at startup: whatever it holds must end in a map or a clear error,
// never a crash. An accepted map keeps its promises: a spawn point inside it, its JSON served as given.
import FuzzSupport
import Foundation
import PlazaRooms

@_cdecl("FuzzMapFile_main")
public func main(argc: CInt, argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc: argc, argv: argv) { data, count in fuzz(data, count) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let data else { return 0 }
    let start = UnsafeRawPointer(data)
    let input = Data(bytes: start, count: count)
    guard let map = try? MapFile.parse(input, path: "fuzz.json") else { return 0 }
    precondition(map.spawn.x.isFinite && map.spawn.y.isFinite && map.spawn.x >= 0 && map.spawn.y >= 0)
    precondition(map.json.count <= count)
    return 0
}
