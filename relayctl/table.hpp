// table: aligned text columns for relayctl's human output.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace relayctl {

enum class Align { left, right };

struct Column {
  std::string title;
  Align align = Align::left;
};

class Table {
 public:
  explicit Table(std::vector<Column> columns) : columns_(std::move(columns)) {}
  // Missing cells print empty; extra cells are ignored.
  void add_row(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  // Titles, then rows; columns separated by two spaces, no trailing blanks.
  void print(std::ostream& out) const;

 private:
  std::vector<std::size_t> widths() const;
  void print_row(std::ostream& out, const std::vector<std::string>& cells,
                 const std::vector<std::size_t>& widths) const;

  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace relayctl
