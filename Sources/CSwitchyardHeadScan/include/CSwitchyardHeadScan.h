// Sixteen bytes at a time for the two scans every HTTP/1.1 head goes through
// (SwitchyardHTTP's LineScanner and FieldLine): SSE2, which every x86-64 CPU has.
//
// Swift's SIMD types cannot say "which lanes matched" without going through memory a lane at
// a time (SIMDMask has no movemask), so the comparisons are written here, static inline: the
// Swift compiler takes the bodies into the calling module and inlines them, and no call is
// made. Each function reads exactly 16 bytes at `p`; the caller guarantees they are there.
// The result has bit k set for byte k, so its trailing zero count is the first match.
#ifndef C_SWITCHYARD_HEAD_SCAN_H
#define C_SWITCHYARD_HEAD_SCAN_H

#include <stdint.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/// Bytes below 0x20 (CR, LF, HTAB and the other control bytes) and DEL: where a head line's
/// scan must stop and look (`WordScan.specialLanes`, sixteen lanes).
static inline uint32_t sy_head_special16(const void *p) {
#if defined(__SSE2__)
    __m128i v = _mm_loadu_si128((const __m128i *)p);
    // v <= 0x1F, unsigned: SSE2 has no unsigned compare, but min(v, 0x1F) == v is one.
    __m128i control = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1F)), v);
    __m128i del = _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7F));
    return (uint32_t)_mm_movemask_epi8(_mm_or_si128(control, del));
#else
    const uint8_t *b = (const uint8_t *)p;
    uint32_t lanes = 0;
    for (int k = 0; k < 16; k++) {
        if (b[k] < 0x20 || b[k] == 0x7F) lanes |= 1u << k;
    }
    return lanes;
#endif
}

/// Bytes that are not an ASCII letter, digit or "-", the bytes nearly every field name is
/// made of (`WordScan.nonNameLanes`, sixteen lanes): the first one ends the name.
static inline uint32_t sy_head_non_name16(const void *p) {
#if defined(__SSE2__)
    __m128i v = _mm_loadu_si128((const __m128i *)p);
    // Setting 0x20 makes A-Z a-z and maps no other byte into a-z (bytes >= 0x80 stay >= 0xA0);
    // then "x - 'a' <= 25" (unsigned, wrapping) is "x is a letter", and the same for digits.
    __m128i letterOffset = _mm_sub_epi8(_mm_or_si128(v, _mm_set1_epi8(0x20)), _mm_set1_epi8('a'));
    __m128i letter = _mm_cmpeq_epi8(_mm_min_epu8(letterOffset, _mm_set1_epi8(25)), letterOffset);
    __m128i digitOffset = _mm_sub_epi8(v, _mm_set1_epi8('0'));
    __m128i digit = _mm_cmpeq_epi8(_mm_min_epu8(digitOffset, _mm_set1_epi8(9)), digitOffset);
    __m128i dash = _mm_cmpeq_epi8(v, _mm_set1_epi8('-'));
    uint32_t name = (uint32_t)_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(letter, digit), dash));
    return ~name & 0xFFFFu;
#else
    const uint8_t *b = (const uint8_t *)p;
    uint32_t lanes = 0;
    for (int k = 0; k < 16; k++) {
        uint8_t c = b[k];
        int name = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
        if (!name) lanes |= 1u << k;
    }
    return lanes;
#endif
}

#endif
