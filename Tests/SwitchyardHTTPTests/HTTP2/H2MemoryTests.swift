import CSwitchyardBlockCache
import Testing
@testable import SwitchyardHTTP

/// The block cache nghttp2 allocates from: a freed block serves the next allocation of its
/// size class, contents survive a realloc, calloc zeroes a reused block, big blocks and
/// blocks beyond a class's limit go back to malloc, and a quiet second empties it.
@Suite struct H2MemoryTests {
    let memory = H2Memory()
    var context: UnsafeMutableRawPointer? { memory.allocator.mem_user_data }

    @Test func aFreedBlockServesTheNextAllocationOfItsClass() throws {
        let first = try #require(sy_block_cache_malloc(40, context))
        sy_block_cache_free(first, context)
        #expect(memory.cachedBlocks == 1)
        // 33…64 bytes share a class.
        let second = try #require(sy_block_cache_malloc(64, context))
        #expect(second == first)
        #expect(memory.misses == 1, "only the first allocation called malloc")
        // Another class does not take it.
        let other = try #require(sy_block_cache_malloc(65, context))
        #expect(other != first)
        #expect(memory.misses == 2)
        sy_block_cache_free(second, context)
        sy_block_cache_free(other, context)
        sy_block_cache_free(nil, context)
        #expect(memory.cachedBlocks == 2)
    }

    @Test func reallocKeepsTheContentsAndTheBlockWhileItFits() throws {
        let block = try #require(sy_block_cache_malloc(100, context))
        let bytes = block.assumingMemoryBound(to: UInt8.self)
        for i in 0..<100 { bytes[i] = UInt8(i) }
        // 100 bytes live in the 128-byte class: growing to 128 keeps the block.
        #expect(sy_block_cache_realloc(block, 128, context) == block)
        let grown = try #require(sy_block_cache_realloc(block, 10_000, context))
        #expect(grown != block)
        let moved = grown.assumingMemoryBound(to: UInt8.self)
        #expect((0..<100).allSatisfy { moved[$0] == UInt8($0) })
        #expect(memory.cachedBlocks == 1, "the old block went back on its list")
        #expect(sy_block_cache_realloc(grown, 0, context) == nil)
        let fresh = try #require(sy_block_cache_realloc(nil, 20, context))
        sy_block_cache_free(fresh, context)
    }

    @Test func callocZeroesAReusedBlockAndRefusesAnOverflow() throws {
        let block = try #require(sy_block_cache_malloc(256, context))
        block.initializeMemory(as: UInt8.self, repeating: 0xAB, count: 256)
        sy_block_cache_free(block, context)
        let zeroed = try #require(sy_block_cache_calloc(16, 16, context))
        #expect(zeroed == block)
        let bytes = zeroed.assumingMemoryBound(to: UInt8.self)
        #expect((0..<256).allSatisfy { bytes[$0] == 0 })
        #expect(sy_block_cache_calloc(Int.max, 4, context) == nil)
        sy_block_cache_free(zeroed, context)
    }

    @Test func bigBlocksAndBlocksBeyondAClassLimitAreNotKept() throws {
        let big = try #require(sy_block_cache_malloc(16_385, context))
        sy_block_cache_free(big, context)
        #expect(memory.cachedBlocks == 0, "above the largest class (16 KiB)")
        var blocks: [UnsafeMutableRawPointer] = []
        for _ in 0..<2000 { blocks.append(try #require(sy_block_cache_malloc(32, context))) }
        for block in blocks { sy_block_cache_free(block, context) }
        #expect(memory.cachedBlocks == 1024)
        // 4 KiB blocks: at most 512 KiB of them.
        blocks = []
        for _ in 0..<200 { blocks.append(try #require(sy_block_cache_malloc(4096, context))) }
        for block in blocks { sy_block_cache_free(block, context) }
        #expect(memory.cachedBlocks == 1024 + 128)
        // 16 KiB blocks, the largest class (OpenSSL's 8 KiB name lists fit below it): 32.
        blocks = []
        for _ in 0..<40 { blocks.append(try #require(sy_block_cache_malloc(16_384, context))) }
        for block in blocks { sy_block_cache_free(block, context) }
        #expect(memory.cachedBlocks == 1024 + 128 + 32)
    }

    @Test func aSecondWithoutAllocationsEmptiesTheCache() throws {
        var blocks: [UnsafeMutableRawPointer] = []
        for size in [16, 200, 1000, 3000] { blocks.append(try #require(sy_block_cache_malloc(size, context))) }
        for block in blocks { sy_block_cache_free(block, context) }
        #expect(memory.trim() == 0, "allocations since the last trim: nothing goes")
        #expect(memory.cachedBlocks == 4)
        #expect(memory.trim() == 4)
        #expect(memory.cachedBlocks == 0)
    }

    @Test func underTrafficTheBlocksNoAllocationNeededGoBackAQuarterAtATime() throws {
        var blocks: [UnsafeMutableRawPointer] = []
        for _ in 0..<100 { blocks.append(try #require(sy_block_cache_malloc(64, context))) }
        for block in blocks { sy_block_cache_free(block, context) }
        // The window that made them needed them: nothing goes.
        #expect(memory.trim() == 0)
        #expect(memory.cachedBlocks == 100)
        // A window with traffic of another size only: a quarter of the unused 64-byte blocks.
        let other = try #require(sy_block_cache_malloc(1000, context))
        sy_block_cache_free(other, context)
        #expect(memory.trim() == 25)
        #expect(memory.cachedBlocks == 75 + 1)
        // A window that took 10 of them back (and returned them): a quarter of the 65 unused.
        blocks = []
        for _ in 0..<10 { blocks.append(try #require(sy_block_cache_malloc(50, context))) }
        for block in blocks { sy_block_cache_free(block, context) }
        #expect(memory.trim() == 16 + 1, "65 / 4 of the 64-byte class, and the 1,000-byte block nothing needed")
        #expect(memory.cachedBlocks == 75 - 16)
    }

    /// OpenSSL's heap (CSwitchyardTLSHeap) passes no cache on a thread without one, and a
    /// block may be freed on another worker than the one that made it: a block from no
    /// cache is never kept, a block made by one cache is kept by whichever cache frees it,
    /// and one freed through no cache goes back to malloc.
    @Test func blocksMoveBetweenCachesAndThreadsWithoutOne() throws {
        let other = H2Memory()
        let otherContext = other.allocator.mem_user_data
        let uncached = try #require(sy_block_cache_malloc(100, nil))
        sy_block_cache_free(uncached, context)
        #expect(memory.cachedBlocks == 0, "a block from no cache is not kept")

        let made = try #require(sy_block_cache_malloc(100, context))
        sy_block_cache_free(made, otherContext)
        #expect(other.cachedBlocks == 1, "the cache that frees a block keeps it")
        #expect(sy_block_cache_malloc(120, otherContext) == made, "and hands it out again")
        sy_block_cache_free(made, nil)
        #expect(other.cachedBlocks == 0 && memory.cachedBlocks == 0, "freed through no cache: back to malloc")

        // Grown without a cache, the contents move along.
        let small = try #require(sy_block_cache_malloc(16, nil))
        small.storeBytes(of: 0x1234_5678, as: UInt32.self)
        let grown = try #require(sy_block_cache_realloc(small, 5000, nil))
        #expect(grown.load(as: UInt32.self) == 0x1234_5678)
        sy_block_cache_free(grown, context)
        #expect(memory.cachedBlocks == 0, "a big block is never kept")
    }
}
