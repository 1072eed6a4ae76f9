import ElectionModel
import Foundation

extension Election {
    /// The embedded default: the 4 May 2023 English local elections (230 councils, 4 mayoralties).
    /// Built from `../shared/data` by `Tools/election-data/make_default_election.py`; credits in `sources`.
    public static func england2023() throws(ElectionDefinitionError) -> Election {
        guard let url = Bundle.module.url(forResource: "england-2023", withExtension: "json"),
            let data = try? Data(contentsOf: url)
        else {
            throw ElectionDefinitionError(message: "the embedded england-2023.json resource is missing from the build")
        }
        return try Election(json: data)
    }
}
