// did_you_mean: the known name a mistyped one was probably meant to be, for "did you mean …?"
// in config file errors.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace relay {

// The candidate nearest to `word` by edit distance (a swap of two neighbours counts one; case
// and '-' versus '_' do not count), when it is near enough to be a typo: at most a third of the
// word's length, at least 1 and at most 3 edits. Ties go to the earlier candidate.
std::optional<std::string> did_you_mean(std::string_view word, const std::vector<std::string_view>& candidates);

// The edit distance did_you_mean() uses (optimal string alignment).
std::size_t edit_distance(std::string_view a, std::string_view b);

}  // namespace relay
