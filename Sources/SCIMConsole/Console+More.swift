import Foundation
import Hummingbird
import SCIMStore

extension Console {
    func addMorePages(to group: RouterGroup<Context>) {}
}
