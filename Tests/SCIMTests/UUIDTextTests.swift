import Foundation
import SCIM
import Testing

@Suite("UUID text")
struct UUIDTextTests {
    @Test("lowercasedString is Foundation's uuidString, lowercased")
    func matchesFoundation() {
        for uuid in (0..<1000).map({ _ in UUID() }) + [UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))] {
            #expect(uuid.lowercasedString == uuid.uuidString.lowercased())
        }
        #expect(
            UUID(uuidString: "FFFFFFFF-FFFF-4FFF-BFFF-FFFFFFFFFFFF")!.lowercasedString
                == "ffffffff-ffff-4fff-bfff-ffffffffffff")
    }
}
