pub mod fake_boards;
