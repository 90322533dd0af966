package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/gormcache"
	"github.com/glebarez/sqlite" // pure-Go SQLite: no server, no cgo
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"
)

// Store is the shop's data layer: GORM on SQLite, with cachekit's model
// cache (gormcache) on the site's Cache. Its reads are ordinary GORM
// queries; the ones that name rows (a product by id, a category by slug,
// the whole category list, a table in one order) are answered from the
// cache, and every write made through GORM invalidates what it changed.
type Store struct {
	db      *gorm.DB
	sql     *sql.DB
	queries atomic.Int64 // statements sent to the database
}

// Category is a product category.
type Category struct {
	ID    int
	Name  string
	Slug  string    `gorm:"uniqueIndex"`
	Items []Product `gorm:"foreignKey:CategoryID"` // has-many: loads of a category's products go through the cache
	Count int       `gorm:"-"`                     // how many products it holds (Categories fills it)
}

// Product is one product with its rating summary, kept on the row (the
// seed computes it from the reviews).
type Product struct {
	ID          int
	CategoryID  int `gorm:"index"`
	Name        string
	Description string
	PriceCents  int
	Rating      float64 `gorm:"index"`               // average review rating
	Reviews     int     `gorm:"column:review_count"` // how many reviews
	UpdatedAt   time.Time
	Category    string `gorm:"-"` // the category's name (filled from the cached categories)
}

// Price formats the price, e.g. "$19.50".
func (p Product) Price() string { return fmt.Sprintf("$%d.%02d", p.PriceCents/100, p.PriceCents%100) }

// User is a shop customer, or the shop's admin.
type User struct {
	ID    int
	Name  string `gorm:"uniqueIndex"`
	Admin bool   // may edit products (logs in with the admin token)
}

// Session is a logged-in browser.
type Session struct {
	Token     string `gorm:"primaryKey"`
	UserID    int    `gorm:"index"`
	User      User
	CreatedAt time.Time
}

// Review is one customer review.
type Review struct {
	ID        int
	ProductID int `gorm:"index"`
	Rating    int
	Body      string
}

// CartLine is a product in a user's cart.
type CartLine struct {
	UserID    int `gorm:"primaryKey;autoIncrement:false"`
	ProductID int `gorm:"primaryKey;autoIncrement:false"`
	Product   Product
	Qty       int
}

// ErrNotFound is returned for a product or session that does not exist.
var ErrNotFound = errors.New("not found")

// DefaultReviews is how many reviews a new database is seeded with: enough
// for the rating aggregates of the seed to be real work.
const DefaultReviews = 60_000

// countingPool counts the statements that reach the database (the figure
// behind "queries per page"); transactions (the seed) are not counted.
type countingPool struct {
	*sql.DB
	n *atomic.Int64
}

func (c countingPool) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	c.n.Add(1)
	return c.DB.QueryContext(ctx, q, args...)
}

func (c countingPool) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	c.n.Add(1)
	return c.DB.QueryRowContext(ctx, q, args...)
}

func (c countingPool) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	c.n.Add(1)
	return c.DB.ExecContext(ctx, q, args...)
}

func (c countingPool) GetDBConn() (*sql.DB, error) { return c.DB, nil }

// OpenStore opens (and on first start creates and seeds with that many
// reviews) the database at path, with the model cache on cache.
func OpenStore(path string, reviews int, cache *cachekit.Cache) (*Store, error) {
	sqlDB, err := sql.Open(sqlite.DriverName, "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)")
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	sqlDB.SetMaxOpenConns(4)
	s := &Store{sql: sqlDB}
	db, err := gorm.Open(&sqlite.Dialector{Conn: countingPool{sqlDB, &s.queries}}, &gorm.Config{
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true, // one statement per write, as the database/sql version did
	})
	if err == nil {
		err = db.Use(gormcache.New(cache))
	}
	if err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	s.db = db
	if err := s.migrate(reviews); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("preparing %s: %w", path, err)
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.sql.Close() }

// Queries is how many statements have reached the database so far.
func (s *Store) Queries() int64 { return s.queries.Load() }

// errOldSchema is a database seeded by the database/sql version of the site.
var errOldSchema = errors.New("made by an older version of the sample site (before GORM): delete it, or pass another -db")

func (s *Store) migrate(reviews int) error {
	if s.db.Migrator().HasTable("cart_items") {
		return errOldSchema
	}
	if err := s.db.AutoMigrate(&Category{}, &Product{}, &Review{}, &User{}, &Session{}, &CartLine{}); err != nil {
		return err
	}
	var n int64
	if err := s.db.Model(&Product{}).Count(&n).Error; err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	return s.db.Transaction(func(tx *gorm.DB) error { return seed(tx, reviews) })
}

// seed fills a new database with a deterministic catalogue.
func seed(tx *gorm.DB, reviews int) error {
	rng := mrand.New(mrand.NewPCG(7, 11))
	cats := []string{"Lamps", "Desks", "Chairs", "Shelves", "Rugs", "Plants", "Clocks", "Mirrors"}
	singular := []string{"Lamp", "Desk", "Chair", "Shelf", "Rug", "Plant", "Clock", "Mirror"}
	categories := make([]Category, len(cats))
	for i, c := range cats {
		categories[i] = Category{ID: i + 1, Name: c, Slug: strings.ToLower(c)}
	}
	if err := tx.Create(&categories).Error; err != nil {
		return err
	}
	adjectives := []string{"Oak", "Walnut", "Brass", "Linen", "Nordic", "Compact", "Grand", "Quiet", "Amber", "Slate"}
	now := time.Now().Truncate(time.Second)
	products := make([]Product, 0, 240)
	for id := 1; id <= 240; id++ {
		cat := (id-1)%len(cats) + 1
		name := fmt.Sprintf("%s %s %d", adjectives[rng.IntN(len(adjectives))], singular[cat-1], id)
		desc := fmt.Sprintf("A %s piece for calm rooms. Made to last, easy to live with.", strings.ToLower(adjectives[rng.IntN(len(adjectives))]))
		products = append(products, Product{ID: id, CategoryID: cat, Name: name, Description: desc, PriceCents: 900 + rng.IntN(40000), UpdatedAt: now})
	}
	if err := tx.CreateInBatches(&products, 100).Error; err != nil {
		return err
	}
	bodies := []string{"Lovely.", "As described.", "Arrived quickly.", "Not my taste.", "Would buy again.", "Solid build."}
	// The reviews go in as multi-row INSERTs through Exec: the plugin then
	// bumps the reviews table's generation once per statement instead of
	// a row tag per review (tens of thousands of writes to the cache).
	const batch = 500
	var sqlText strings.Builder
	args := make([]any, 0, 3*batch)
	for i := 0; i < reviews; i++ {
		if len(args) == 0 {
			sqlText.Reset()
			sqlText.WriteString("INSERT INTO reviews (product_id, rating, body) VALUES ")
		} else {
			sqlText.WriteString(", ")
		}
		sqlText.WriteString("(?, ?, ?)")
		args = append(args, 1+rng.IntN(240), 1+rng.IntN(5), bodies[rng.IntN(len(bodies))])
		if len(args) == 3*batch || i == reviews-1 {
			if err := tx.Exec(sqlText.String(), args...).Error; err != nil {
				return err
			}
			args = args[:0]
		}
	}
	// The rating summary on each product: the aggregate over every review,
	// computed once here rather than on every page.
	if err := tx.Exec(`UPDATE products SET
		rating = coalesce((SELECT avg(r.rating) FROM reviews r WHERE r.product_id = products.id), 0),
		review_count = (SELECT count(*) FROM reviews r WHERE r.product_id = products.id)`).Error; err != nil {
		return err
	}
	users := []User{{ID: 1, Name: "alice"}, {ID: 2, Name: "bob"}, {ID: 3, Name: "carol"}, {ID: 4, Name: "admin", Admin: true}}
	return tx.Create(&users).Error
}

// Categories lists the categories, by name, with their product counts.
func (s *Store) Categories(ctx context.Context) ([]Category, error) {
	var cats []Category
	if err := s.db.WithContext(ctx).Preload("Items").Order("name").Find(&cats).Error; err != nil {
		return nil, fmt.Errorf("categories: %w", err)
	}
	for i := range cats {
		cats[i].Count = len(cats[i].Items)
		cats[i].Items = nil
	}
	return cats, nil
}

// categoryNames fills in the products' category names, from the same
// (cached) list the sidebar reads.
func (s *Store) categoryNames(ctx context.Context, ps []Product) error {
	var cats []Category
	if err := s.db.WithContext(ctx).Order("name").Find(&cats).Error; err != nil {
		return err
	}
	names := make(map[int]string, len(cats))
	for _, c := range cats {
		names[c.ID] = c.Name
	}
	for i := range ps {
		ps[i].Category = names[ps[i].CategoryID]
	}
	return nil
}

// Products lists the products of a category (all when slug is empty),
// best rated first, at most limit. No category of that slug: no products.
func (s *Store) Products(ctx context.Context, slug string, limit int) ([]Product, error) {
	db := s.db.WithContext(ctx)
	var ps []Product
	if slug == "" {
		if err := db.Order("rating desc, id").Limit(limit).Find(&ps).Error; err != nil {
			return nil, fmt.Errorf("products: %w", err)
		}
	} else {
		var cat Category
		err := db.Where("slug = ?", slug).First(&cat).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, nil
		}
		if err == nil {
			err = db.Where("category_id = ?", cat.ID).Find(&ps).Error
		}
		if err != nil {
			return nil, fmt.Errorf("products of %s: %w", slug, err)
		}
		sort.SliceStable(ps, func(i, j int) bool {
			if ps[i].Rating != ps[j].Rating {
				return ps[i].Rating > ps[j].Rating
			}
			return ps[i].ID < ps[j].ID
		})
		ps = ps[:min(len(ps), limit)]
	}
	if err := s.categoryNames(ctx, ps); err != nil {
		return nil, fmt.Errorf("products: %w", err)
	}
	return ps, nil
}

// Product returns one product.
func (s *Store) Product(ctx context.Context, id int) (Product, error) {
	var p Product
	err := s.db.WithContext(ctx).First(&p, id).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Product{}, ErrNotFound
	}
	if err == nil {
		ps := []Product{p}
		err = s.categoryNames(ctx, ps)
		p = ps[0]
	}
	if err != nil {
		return Product{}, fmt.Errorf("product %d: %w", id, err)
	}
	return p, nil
}

// RecentReviews returns the newest reviews of a product.
func (s *Store) RecentReviews(ctx context.Context, id, limit int) ([]Review, error) {
	var rs []Review
	if err := s.db.WithContext(ctx).Where("product_id = ?", id).Order("id desc").Limit(limit).Find(&rs).Error; err != nil {
		return nil, fmt.Errorf("reviews of %d: %w", id, err)
	}
	return rs, nil
}

// UpdateProduct changes a product's name, price and description. The
// plugin drops the product's cached row and the cached lists of products.
func (s *Store) UpdateProduct(ctx context.Context, id int, name, description string, priceCents int) error {
	res := s.db.WithContext(ctx).Model(&Product{ID: id}).Updates(map[string]any{
		"name": name, "description": description, "price_cents": priceCents, "updated_at": time.Now(),
	})
	if res.Error != nil {
		return fmt.Errorf("updating product %d: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// Users lists the people one can log in as.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	var us []User
	if err := s.db.WithContext(ctx).Order("id").Find(&us).Error; err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	return us, nil
}

// User returns the user of that name.
func (s *Store) User(ctx context.Context, name string) (User, error) {
	var u User
	err := s.db.WithContext(ctx).Where("name = ?", name).First(&u).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("user %q: %w", name, err)
	}
	return u, nil
}

// Login starts a session for the user and returns its token.
func (s *Store) Login(ctx context.Context, u User) (string, error) {
	var b [16]byte
	rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	if err := s.db.WithContext(ctx).Create(&Session{Token: token, UserID: u.ID}).Error; err != nil {
		return "", fmt.Errorf("login: %w", err)
	}
	return token, nil
}

// Session returns the user a session token belongs to.
func (s *Store) Session(ctx context.Context, token string) (User, error) {
	var sess Session
	err := s.db.WithContext(ctx).Preload("User").First(&sess, "token = ?", token).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("session: %w", err)
	}
	return sess.User, nil
}

// Logout ends a session.
func (s *Store) Logout(ctx context.Context, token string) error {
	return s.db.WithContext(ctx).Delete(&Session{Token: token}).Error
}

// AddToCart puts one more of a product in the user's cart.
func (s *Store) AddToCart(ctx context.Context, userID, productID int) error {
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "user_id"}, {Name: "product_id"}},
		DoUpdates: clause.Assignments(map[string]any{"qty": gorm.Expr("cart_lines.qty + 1")}),
	}).Create(&CartLine{UserID: userID, ProductID: productID, Qty: 1}).Error
	if err != nil {
		return fmt.Errorf("adding %d to the cart: %w", productID, err)
	}
	return nil
}

// Cart lists the user's cart.
func (s *Store) Cart(ctx context.Context, userID int) ([]CartLine, error) {
	var lines []CartLine
	if err := s.db.WithContext(ctx).Preload("Product").Where("user_id = ?", userID).Order("product_id").Find(&lines).Error; err != nil {
		return nil, fmt.Errorf("cart: %w", err)
	}
	return lines, nil
}
