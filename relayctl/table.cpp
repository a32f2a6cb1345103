#include "table.hpp"

#include <algorithm>

namespace relayctl {

namespace {

// Display width: UTF-8 continuation bytes take no column of their own.
std::size_t display_width(const std::string& s) {
  return static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

}  // namespace

std::vector<std::size_t> Table::widths() const {
  std::vector<std::size_t> w;
  for (const auto& c : columns_) w.push_back(display_width(c.title));
  for (const auto& row : rows_) {
    for (std::size_t i = 0; i < std::min(row.size(), w.size()); ++i) w[i] = std::max(w[i], display_width(row[i]));
  }
  return w;
}

void Table::print_row(std::ostream& out, const std::vector<std::string>& cells,
                      const std::vector<std::size_t>& widths) const {
  std::string line;
  for (std::size_t i = 0; i < columns_.size(); ++i) {
    const std::string cell = i < cells.size() ? cells[i] : std::string();
    const std::string pad(widths[i] - display_width(cell), ' ');
    if (i > 0) line += "  ";
    line += columns_[i].align == Align::right ? pad + cell : cell + pad;
  }
  line.erase(line.find_last_not_of(' ') + 1);
  out << line << '\n';
}

void Table::print(std::ostream& out) const {
  const auto w = widths();
  std::vector<std::string> titles;
  for (const auto& c : columns_) titles.push_back(c.title);
  print_row(out, titles, w);
  for (const auto& row : rows_) print_row(out, row, w);
}

}  // namespace relayctl
