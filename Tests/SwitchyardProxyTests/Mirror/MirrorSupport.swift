import Foundation
import Testing
import SwitchyardCompare
import SwitchyardProxy
import SwitchyardTestSupport

/// Routes with the `app` route on legacy, mirrored as `mirror` says; `extra` goes in the
/// route block, `backends` after the two origins' blocks.
func mirrorRoutes(_ mirror: String, extra: String = "", cloudExtra: String = "", backends: String = "") -> String {
    """
    backend legacy {
        server 127.0.0.1:LEGACY
    }
    backend cloud {
        server 127.0.0.1:CLOUD
        \(cloudExtra)
    }
    \(backends)
    route app {
        backend legacy
        sticky header X-User
        \(mirror)
        \(extra)
    }
    """
}

extension ProxyHarness {
    /// Drains samples until `count` arrived (copies finish after the user's answer).
    func mirrorSamples(_ count: Int, seconds: Double = 10) throws -> [MirrorSample] {
        var samples: [MirrorSample] = []
        try waitFor("\(count) mirrored pairs", seconds: seconds) {
            samples += proxy.drainMirrorSamples()
            return samples.count >= count
        }
        return samples
    }

    func mirrorCounters(_ backend: String) -> MirrorCounters {
        proxy.mirrorSnapshot().backends[backend] ?? MirrorCounters()
    }
}
