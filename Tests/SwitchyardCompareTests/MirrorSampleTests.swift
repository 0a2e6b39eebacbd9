import Testing
@testable import SwitchyardCompare

@Suite struct MirrorSampleTests {
    @Test func anAnswerOverTheCaptureLimitKeepsNoBody() {
        let answer = MirrorAnswer(status: 200, bodyHash: [1, 2], bodyLength: MirrorAnswer.captureLimit + 1)
        #expect(answer.body == nil)
        #expect(answer.bodyLength > MirrorAnswer.captureLimit)
    }
}
