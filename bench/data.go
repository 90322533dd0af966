package main

import (
	"fmt"
	"time"
)

// The page's data, fixed: the benchmark measures the caches and the
// template engines, not the database.

type category struct {
	ID    int
	Name  string
	Slug  string
	Count int
}

type product struct {
	ID          int
	Category    string
	Name        string
	Description string
	PriceCents  int
	Rating      float64
	Reviews     int
	UpdatedAt   time.Time
}

func (p product) Price() string { return fmt.Sprintf("$%d.%02d", p.PriceCents/100, p.PriceCents%100) }

// shop stands in for the sample site's lazy data.
type shop struct{ categories []category }

func (s shop) Categories() ([]category, error) { return s.categories, nil }
func (s shop) CartCount(int) (int, error)      { return 0, nil }

func pageData() map[string]any {
	cats := []string{"Chairs", "Clocks", "Desks", "Lamps", "Mirrors", "Plants", "Rugs", "Shelves"}
	var cs []category
	for i, c := range cats {
		cs = append(cs, category{i + 1, c, fmt.Sprint("c", i), 30})
	}
	var ps []product
	for i := 1; i <= 24; i++ {
		ps = append(ps, product{ID: i, Category: cats[i%8], Name: fmt.Sprintf("Oak %s %d", cats[i%8], i),
			PriceCents: 1000 + 37*i, Rating: 3.5 + float64(i%10)/10, Reviews: 200 + i})
	}
	return map[string]any{"Title": "Shop", "Heading": "Best rated", "Products": ps, "Shop": shop{cs}, "User": nil}
}
