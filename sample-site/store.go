package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"time"

	_ "modernc.org/sqlite" // pure-Go SQLite: no server, no cgo
)

// Store is the shop's data layer on SQLite. Its queries are the expensive
// work the caches save: the category counts and rating averages aggregate
// tens of thousands of reviews.
type Store struct{ db *sql.DB }

// Category is a product category with how many products it holds.
type Category struct {
	ID       int
	Name     string
	Slug     string
	Products int
}

// Product is one product with its rating summary.
type Product struct {
	ID          int
	CategoryID  int
	Category    string
	Name        string
	Description string
	PriceCents  int
	Rating      float64
	Reviews     int
	UpdatedAt   time.Time
}

// Price formats the price, e.g. "$19.50".
func (p Product) Price() string { return fmt.Sprintf("$%d.%02d", p.PriceCents/100, p.PriceCents%100) }

// User is a shop customer.
type User struct {
	ID   int
	Name string
}

// Review is one customer review.
type Review struct {
	Rating int
	Body   string
}

// CartLine is a product in a user's cart.
type CartLine struct {
	Product Product
	Qty     int
}

// ErrNotFound is returned for a product or session that does not exist.
var ErrNotFound = errors.New("not found")

// DefaultReviews is how many reviews a new database is seeded with: enough
// for the rating aggregates to be real work.
const DefaultReviews = 60_000

// OpenStore opens (and on first start creates and seeds with that many
// reviews) the database at path.
func OpenStore(path string, reviews int) (*Store, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)")
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	db.SetMaxOpenConns(4)
	s := &Store{db: db}
	if err := s.migrate(reviews); err != nil {
		db.Close()
		return nil, fmt.Errorf("preparing %s: %w", path, err)
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

const schema = `
CREATE TABLE IF NOT EXISTS categories (id INTEGER PRIMARY KEY, name TEXT NOT NULL, slug TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS products (
	id INTEGER PRIMARY KEY, category_id INTEGER NOT NULL REFERENCES categories(id),
	name TEXT NOT NULL, description TEXT NOT NULL, price_cents INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS reviews (id INTEGER PRIMARY KEY, product_id INTEGER NOT NULL REFERENCES products(id), rating INTEGER NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS sessions (token TEXT PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id), created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS cart_items (user_id INTEGER NOT NULL REFERENCES users(id), product_id INTEGER NOT NULL REFERENCES products(id), qty INTEGER NOT NULL, PRIMARY KEY (user_id, product_id));
`

func (s *Store) migrate(reviews int) error {
	if _, err := s.db.Exec(schema); err != nil {
		return err
	}
	var n int
	if err := s.db.QueryRow(`SELECT count(*) FROM products`).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	return s.seed(reviews)
}

// seed fills a new database with a deterministic catalogue.
func (s *Store) seed(reviews int) error {
	tx, err := s.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	rng := mrand.New(mrand.NewPCG(7, 11))
	cats := []string{"Lamps", "Desks", "Chairs", "Shelves", "Rugs", "Plants", "Clocks", "Mirrors"}
	for i, c := range cats {
		if _, err := tx.Exec(`INSERT INTO categories VALUES (?, ?, ?)`, i+1, c, strings.ToLower(c)); err != nil {
			return err
		}
	}
	adjectives := []string{"Oak", "Walnut", "Brass", "Linen", "Nordic", "Compact", "Grand", "Quiet", "Amber", "Slate"}
	now := time.Now().Unix()
	for id := 1; id <= 240; id++ {
		cat := (id-1)%len(cats) + 1
		name := fmt.Sprintf("%s %s %d", adjectives[rng.IntN(len(adjectives))], strings.TrimSuffix(cats[cat-1], "s"), id)
		desc := fmt.Sprintf("A %s piece for calm rooms. Made to last, easy to live with.", strings.ToLower(adjectives[rng.IntN(len(adjectives))]))
		if _, err := tx.Exec(`INSERT INTO products VALUES (?, ?, ?, ?, ?, ?)`, id, cat, name, desc, 900+rng.IntN(40000), now); err != nil {
			return err
		}
	}
	bodies := []string{"Lovely.", "As described.", "Arrived quickly.", "Not my taste.", "Would buy again.", "Solid build."}
	stmt, err := tx.Prepare(`INSERT INTO reviews (product_id, rating, body) VALUES (?, ?, ?)`)
	if err != nil {
		return err
	}
	for i := 0; i < reviews; i++ {
		if _, err := stmt.Exec(1+rng.IntN(240), 1+rng.IntN(5), bodies[rng.IntN(len(bodies))]); err != nil {
			return err
		}
	}
	for i, u := range []string{"alice", "bob", "carol"} {
		if _, err := tx.Exec(`INSERT INTO users VALUES (?, ?)`, i+1, u); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Categories lists the categories with their product counts.
func (s *Store) Categories(ctx context.Context) ([]Category, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT c.id, c.name, c.slug, count(p.id) FROM categories c
		LEFT JOIN products p ON p.category_id = c.id GROUP BY c.id ORDER BY c.name`)
	if err != nil {
		return nil, fmt.Errorf("categories: %w", err)
	}
	defer rows.Close()
	var out []Category
	for rows.Next() {
		var c Category
		if err := rows.Scan(&c.ID, &c.Name, &c.Slug, &c.Products); err != nil {
			return nil, fmt.Errorf("categories: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

const productColumns = `
	SELECT p.id, p.category_id, c.name, p.name, p.description, p.price_cents, p.updated_at,
	       coalesce(avg(r.rating), 0), count(r.id)
	FROM products p JOIN categories c ON c.id = p.category_id
	LEFT JOIN reviews r ON r.product_id = p.id`

func scanProducts(rows *sql.Rows) ([]Product, error) {
	defer rows.Close()
	var out []Product
	for rows.Next() {
		var p Product
		var updated int64
		if err := rows.Scan(&p.ID, &p.CategoryID, &p.Category, &p.Name, &p.Description, &p.PriceCents, &updated, &p.Rating, &p.Reviews); err != nil {
			return nil, err
		}
		p.UpdatedAt = time.Unix(updated, 0)
		out = append(out, p)
	}
	return out, rows.Err()
}

// Products lists the products of a category (all when slug is empty),
// best rated first, at most limit.
func (s *Store) Products(ctx context.Context, slug string, limit int) ([]Product, error) {
	rows, err := s.db.QueryContext(ctx, productColumns+`
		WHERE ? = '' OR c.slug = ?
		GROUP BY p.id ORDER BY avg(r.rating) DESC, p.id LIMIT ?`, slug, slug, limit)
	if err != nil {
		return nil, fmt.Errorf("products: %w", err)
	}
	ps, err := scanProducts(rows)
	if err != nil {
		return nil, fmt.Errorf("products: %w", err)
	}
	return ps, nil
}

// Product returns one product.
func (s *Store) Product(ctx context.Context, id int) (Product, error) {
	rows, err := s.db.QueryContext(ctx, productColumns+` WHERE p.id = ? GROUP BY p.id`, id)
	if err != nil {
		return Product{}, fmt.Errorf("product %d: %w", id, err)
	}
	ps, err := scanProducts(rows)
	if err != nil {
		return Product{}, fmt.Errorf("product %d: %w", id, err)
	}
	if len(ps) == 0 {
		return Product{}, ErrNotFound
	}
	return ps[0], nil
}

// RecentReviews returns the newest reviews of a product.
func (s *Store) RecentReviews(ctx context.Context, id, limit int) ([]Review, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT rating, body FROM reviews WHERE product_id = ? ORDER BY id DESC LIMIT ?`, id, limit)
	if err != nil {
		return nil, fmt.Errorf("reviews of %d: %w", id, err)
	}
	defer rows.Close()
	var out []Review
	for rows.Next() {
		var r Review
		if err := rows.Scan(&r.Rating, &r.Body); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// UpdateProduct changes a product's name, price and description.
func (s *Store) UpdateProduct(ctx context.Context, id int, name, description string, priceCents int) error {
	res, err := s.db.ExecContext(ctx, `UPDATE products SET name = ?, description = ?, price_cents = ?, updated_at = ? WHERE id = ?`,
		name, description, priceCents, time.Now().Unix(), id)
	if err != nil {
		return fmt.Errorf("updating product %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// Users lists the customers one can log in as.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name FROM users ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		var u User
		if err := rows.Scan(&u.ID, &u.Name); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// Login starts a session for the named user and returns its token.
func (s *Store) Login(ctx context.Context, name string) (string, error) {
	var id int
	if err := s.db.QueryRowContext(ctx, `SELECT id FROM users WHERE name = ?`, name).Scan(&id); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return "", ErrNotFound
		}
		return "", fmt.Errorf("login: %w", err)
	}
	var b [16]byte
	rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	if _, err := s.db.ExecContext(ctx, `INSERT INTO sessions VALUES (?, ?, ?)`, token, id, time.Now().Unix()); err != nil {
		return "", fmt.Errorf("login: %w", err)
	}
	return token, nil
}

// Session returns the user a session token belongs to.
func (s *Store) Session(ctx context.Context, token string) (User, error) {
	var u User
	err := s.db.QueryRowContext(ctx, `SELECT u.id, u.name FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token = ?`, token).Scan(&u.ID, &u.Name)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("session: %w", err)
	}
	return u, nil
}

// Logout ends a session.
func (s *Store) Logout(ctx context.Context, token string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE token = ?`, token)
	return err
}

// AddToCart puts one more of a product in the user's cart.
func (s *Store) AddToCart(ctx context.Context, userID, productID int) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO cart_items VALUES (?, ?, 1)
		ON CONFLICT (user_id, product_id) DO UPDATE SET qty = qty + 1`, userID, productID)
	if err != nil {
		return fmt.Errorf("adding %d to the cart: %w", productID, err)
	}
	return nil
}

// Cart lists the user's cart.
func (s *Store) Cart(ctx context.Context, userID int) ([]CartLine, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT product_id, qty FROM cart_items WHERE user_id = ? ORDER BY product_id`, userID)
	if err != nil {
		return nil, fmt.Errorf("cart: %w", err)
	}
	type line struct{ id, qty int }
	var lines []line
	for rows.Next() {
		var l line
		if err := rows.Scan(&l.id, &l.qty); err != nil {
			rows.Close()
			return nil, err
		}
		lines = append(lines, l)
	}
	rows.Close()
	var out []CartLine
	for _, l := range lines {
		p, err := s.Product(ctx, l.id)
		if err != nil {
			return nil, err
		}
		out = append(out, CartLine{p, l.qty})
	}
	return out, nil
}
