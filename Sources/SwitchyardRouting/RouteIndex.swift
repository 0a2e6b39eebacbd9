/// The http routes of one table, indexed so choosing a route costs the same with one route
/// or with a thousand hosts of a hundred path prefixes each.
///
/// `RouteTable.routeByScan` states the rule: routes naming the request's host before
/// any-host routes, then the longest matching path prefix, then file order, skipping routes
/// bound to other listeners. The index gives the same answer without the scan:
/// - every host a route names maps to a **group** (hash of the lower-cased name); the
///   any-host routes form group 0;
/// - every (group, path prefix) maps to the routes with that prefix, in file order;
/// - a request's path can only be matched by its prefixes that end where the prefix rule
///   allows (`ByteMatch.pathMatches`): at a '/' of the path, just before one, or at its end.
///   So the lookup walks the path once, hashing as it goes, and probes the table at those
///   lengths only (and only at lengths some route's prefix has); the longest hit wins.
/// `RouteIndexTests` checks it chooses exactly what the scan chooses on random tables.
///
/// Open addressing over plain arrays: built once per table, read-only afterwards, so a
/// lookup neither allocates nor locks.
final class RouteIndex: Sendable {
    /// Per route (the table's order): a bit per listener it is bound to, 0 for every listener.
    private let listenerMasks: [UInt64]

    // Host → group (1…). Slot is empty when its hash is 0.
    private let hostHashes: [UInt64]
    private let hostKeys: [KeySpan]
    private let hostGroups: [Int32]
    private let hostSlotMask: Int
    /// No route names a host: the request's host need not be hashed at all.
    private let noHostRoutes: Bool

    // (group, prefix) → routes. Slot is empty when its hash is 0.
    private let prefixHashes: [UInt64]
    private let prefixKeys: [KeySpan]
    private let prefixGroups: [Int32]
    private let prefixRoutes: [KeySpan]  // a range of `routeLists`
    private let prefixSlotMask: Int

    /// Per group: the routes without a path prefix, as a range of `routeLists`, file order.
    private let unprefixedRoutes: [KeySpan]
    private let keyBytes: [UInt8]
    private let routeLists: [Int32]
    /// `prefixLengthUsed[n]`: some route has a prefix of n bytes. Paths are walked no
    /// further than the longest one.
    private let prefixLengthUsed: [Bool]

    struct KeySpan: Sendable {
        var start: Int32
        var count: Int32
    }

    /// `routes` in the table's order; only http routes are indexed.
    init(routes: [CompiledRoute], listenerMasks: [UInt64]) {
        self.listenerMasks = listenerMasks
        var keyBytes: [UInt8] = []
        func store(_ bytes: some Collection<UInt8>) -> KeySpan {
            let start = keyBytes.count
            keyBytes.append(contentsOf: bytes)
            return KeySpan(start: Int32(start), count: Int32(bytes.count))
        }

        // Groups: hosts in order of first appearance; group 0 is the any-host routes.
        var groupOfHost: [[UInt8]: Int] = [:]
        var hostOrder: [[UInt8]] = []
        // Per group: prefix → routes in file order; routes without a prefix.
        var prefixed: [[[UInt8]: [Int32]]] = [[:]]
        var prefixOrder: [[[UInt8]]] = [[]]
        var unprefixed: [[Int32]] = [[]]
        var longest = 0
        for (index, route) in routes.enumerated() where route.mode == .http {
            var groups: [Int] = []
            if route.hosts.isEmpty {
                groups = [0]
            } else {
                for host in route.hosts {
                    let key = Array(host.lowercased().utf8)
                    let group: Int
                    if let known = groupOfHost[key] {
                        group = known
                    } else {
                        group = prefixed.count
                        groupOfHost[key] = group
                        hostOrder.append(key)
                        prefixed.append([:])
                        prefixOrder.append([])
                        unprefixed.append([])
                    }
                    if !groups.contains(group) { groups.append(group) }
                }
            }
            let prefix = Array((route.pathPrefix ?? "").utf8)
            longest = max(longest, prefix.count)
            for group in groups {
                if prefix.isEmpty {
                    unprefixed[group].append(Int32(index))
                } else {
                    if prefixed[group][prefix] == nil { prefixOrder[group].append(prefix) }
                    prefixed[group][prefix, default: []].append(Int32(index))
                }
            }
        }

        var routeLists: [Int32] = []
        func list(_ routes: [Int32]) -> KeySpan {
            let start = routeLists.count
            routeLists.append(contentsOf: routes)
            return KeySpan(start: Int32(start), count: Int32(routes.count))
        }

        let hostCapacity = Self.capacity(for: hostOrder.count)
        var hostHashes = [UInt64](repeating: 0, count: hostCapacity)
        var hostKeys = [KeySpan](repeating: KeySpan(start: 0, count: 0), count: hostCapacity)
        var hostGroups = [Int32](repeating: 0, count: hostCapacity)
        for (offset, host) in hostOrder.enumerated() {
            let hash = Self.finish(host.reduce(Self.seed(group: 0)) { Self.step($0, $1) })
            var slot = Int(truncatingIfNeeded: hash) & (hostCapacity - 1)
            while hostHashes[slot] != 0 { slot = (slot + 1) & (hostCapacity - 1) }
            hostHashes[slot] = hash
            hostKeys[slot] = store(host)
            hostGroups[slot] = Int32(offset + 1)
        }

        let prefixCount = prefixOrder.reduce(0) { $0 + $1.count }
        let prefixCapacity = Self.capacity(for: prefixCount)
        var prefixHashes = [UInt64](repeating: 0, count: prefixCapacity)
        var prefixKeys = [KeySpan](repeating: KeySpan(start: 0, count: 0), count: prefixCapacity)
        var prefixGroups = [Int32](repeating: 0, count: prefixCapacity)
        var prefixRoutes = [KeySpan](repeating: KeySpan(start: 0, count: 0), count: prefixCapacity)
        var lengthUsed = [Bool](repeating: false, count: longest + 1)
        for group in prefixOrder.indices {
            for prefix in prefixOrder[group] {
                lengthUsed[prefix.count] = true
                let hash = Self.finish(prefix.reduce(Self.seed(group: group)) { Self.step($0, $1) })
                var slot = Int(truncatingIfNeeded: hash) & (prefixCapacity - 1)
                while prefixHashes[slot] != 0 { slot = (slot + 1) & (prefixCapacity - 1) }
                prefixHashes[slot] = hash
                prefixKeys[slot] = store(prefix)
                prefixGroups[slot] = Int32(group)
                prefixRoutes[slot] = list(prefixed[group][prefix]!)
            }
        }

        self.hostHashes = hostHashes
        self.hostKeys = hostKeys
        self.hostGroups = hostGroups
        self.hostSlotMask = hostCapacity - 1
        self.noHostRoutes = hostOrder.isEmpty
        self.prefixHashes = prefixHashes
        self.prefixKeys = prefixKeys
        self.prefixGroups = prefixGroups
        self.prefixRoutes = prefixRoutes
        self.prefixSlotMask = prefixCapacity - 1
        self.unprefixedRoutes = unprefixed.map(list)
        self.keyBytes = keyBytes
        self.routeLists = routeLists
        self.prefixLengthUsed = lengthUsed
    }

    /// The route `RouteTable.routeByScan` would choose, or -1. `host` is without its port.
    /// Does not allocate.
    func lookup(host: UnsafeRawBufferPointer, path: UnsafeRawBufferPointer, listener: Int) -> Int {
        let group = self.group(ofHost: host)
        if group > 0 {
            let found = best(inGroup: group, path: path, listener: listener)
            if found >= 0 { return found }
        }
        return best(inGroup: 0, path: path, listener: listener)
    }

    private func group(ofHost host: UnsafeRawBufferPointer) -> Int {
        guard host.count > 0, !noHostRoutes else { return 0 }
        var hash = Self.seed(group: 0)
        var i = 0
        while i < host.count {
            hash = Self.step(hash, ByteMatch.lower(host[i]))
            i += 1
        }
        hash = Self.finish(hash)
        var slot = Int(truncatingIfNeeded: hash) & hostSlotMask
        while hostHashes[slot] != 0 {
            if hostHashes[slot] == hash && keyEquals(hostKeys[slot], host, caseInsensitive: true) {
                return Int(hostGroups[slot])
            }
            slot = (slot + 1) & hostSlotMask
        }
        return 0
    }

    private func best(inGroup group: Int, path: UnsafeRawBufferPointer, listener: Int) -> Int {
        var best = -1
        var hash = Self.seed(group: group)
        let limit = min(path.count, prefixLengthUsed.count - 1)
        var length = 0
        while length < limit {
            hash = Self.step(hash, path[length])
            length += 1
            // Where the prefix rule lets a prefix of this length match (see the type's doc).
            guard prefixLengthUsed[length],
                  length == path.count || path[length - 1] == 0x2F || path[length] == 0x2F else { continue }
            let found = routeWithPrefix(group: group, hash: Self.finish(hash),
                                        prefix: UnsafeRawBufferPointer(rebasing: path[0..<length]), listener: listener)
            if found >= 0 { best = found }
        }
        if best >= 0 { return best }
        return firstServing(unprefixedRoutes[group], listener: listener)
    }

    private func routeWithPrefix(group: Int, hash: UInt64, prefix: UnsafeRawBufferPointer, listener: Int) -> Int {
        var slot = Int(truncatingIfNeeded: hash) & prefixSlotMask
        while prefixHashes[slot] != 0 {
            if prefixHashes[slot] == hash && prefixGroups[slot] == Int32(group)
                && keyEquals(prefixKeys[slot], prefix, caseInsensitive: false) {
                return firstServing(prefixRoutes[slot], listener: listener)
            }
            slot = (slot + 1) & prefixSlotMask
        }
        return -1
    }

    /// The first route of `list` (file order) served on `listener`, or -1.
    private func firstServing(_ list: KeySpan, listener: Int) -> Int {
        var k = Int(list.start)
        let end = k + Int(list.count)
        while k < end {
            let route = Int(routeLists[k])
            let mask = listenerMasks[route]
            if mask == 0 || (listener >= 0 && listener < 64 && mask & (1 << UInt64(listener)) != 0) { return route }
            k += 1
        }
        return -1
    }

    private func keyEquals(_ key: KeySpan, _ bytes: UnsafeRawBufferPointer, caseInsensitive: Bool) -> Bool {
        guard Int(key.count) == bytes.count else { return false }
        var i = 0
        let start = Int(key.start)
        while i < bytes.count {
            let byte = caseInsensitive ? ByteMatch.lower(bytes[i]) : bytes[i]
            if keyBytes[start + i] != byte { return false }
            i += 1
        }
        return true
    }

    // FNV-1a, seeded with the group so one table holds every group's prefixes.
    @inline(__always)
    private static func seed(group: Int) -> UInt64 {
        0xcbf2_9ce4_8422_2325 ^ (UInt64(truncatingIfNeeded: group) &* 0x9E37_79B9_7F4A_7C15)
    }

    @inline(__always)
    private static func step(_ hash: UInt64, _ byte: UInt8) -> UInt64 {
        (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
    }

    /// Mixes the high bits down (the slot is taken from the low bits) and keeps 0 for "empty".
    @inline(__always)
    private static func finish(_ hash: UInt64) -> UInt64 {
        let mixed = hash ^ (hash >> 29)
        return mixed == 0 ? 1 : mixed
    }

    /// A power of two at least twice `count` (at most half full), at least 1.
    private static func capacity(for count: Int) -> Int {
        var capacity = 1
        while capacity < count * 2 { capacity <<= 1 }
        return capacity
    }
}
