import Testing
@testable import SwitchyardProxy

/// The worker's connection lists and a connection's streams: removal in O(1) by recorded
/// position. Random appends, removes and takes against a plain array: every element keeps
/// the position it records, a taken one is the very object asked for, and one that is not
/// there (removed already, or never added) is neither removed nor taken.
@Suite struct IndexedListTests {
    final class Item: Indexed {
        var listIndex = -1
        let id: Int
        init(_ id: Int) { self.id = id }
    }

    @Test func randomAppendsRemovesAndTakesKeepEveryPositionTrue() {
        var generator = SystemRandomNumberGenerator()
        var list: [Item] = []
        var model: [Int] = []   // ids in the list, any order
        var everything: [Item] = []
        for step in 0..<5_000 {
            let action = Int.random(in: 0..<3, using: &generator)
            if action == 0 || everything.isEmpty {
                let item = Item(step)
                everything.append(item)
                list.appendIndexed(item)
                model.append(item.id)
            } else {
                let item = everything.randomElement(using: &generator)!
                let present = model.contains(item.id)
                if action == 1 {
                    #expect(list.removeIndexed(item) == present)
                } else {
                    let taken = list.takeIndexed(item)
                    #expect((taken != nil) == present)
                    if let taken { #expect(taken === item) }
                }
                if present { model.removeAll { $0 == item.id } }
                #expect(item.listIndex == -1)
            }
            #expect(list.count == model.count)
            for (position, element) in list.enumerated() where element.listIndex != position {
                Issue.record("step \(step): item \(element.id) at \(position) records \(element.listIndex)")
            }
        }
        #expect(Set(list.map(\.id)) == Set(model))
    }
}
