// libFuzzer harness: the routes-file parser and table build on any text.
import SwitchyardRouting

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRoutes(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeRawBufferPointer(start: data, count: size), as: UTF8.self)
    if let config = try? RoutesConfig.parse(text, file: "fuzz.routes") {
        _ = try? RouteTable.build(config: config, state: RuntimeState(), generation: 1)
    }
    return 0
}
