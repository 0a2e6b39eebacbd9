import Testing
import SwitchyardHTTP
import SwitchyardProxy
import SwitchyardRouting

/// What the routes file's checks assume of the proxy's settings.
@Suite struct ProxySettingsTests {
    /// The routes file refuses `limit` lines whose head would not fit one buffer, counting an
    /// unset limit at the proxy's default: those defaults must be the proxy's.
    @Test func theHeadSizeCheckAssumesTheProxysDefaults() {
        #expect(TuningConfig.defaultRequestLineBytes == UInt64(HTTPLimits.default.maxRequestLineBytes))
        #expect(TuningConfig.defaultHeaderBytes == UInt64(HTTPLimits.default.maxHeaderBytes))
        let settings = ProxySettings(workers: 1)
        #expect(settings.maxRequestLineBytes == HTTPLimits.default.maxRequestLineBytes)
        #expect(settings.maxHeaderBytes == HTTPLimits.default.maxHeaderBytes)
    }
}
