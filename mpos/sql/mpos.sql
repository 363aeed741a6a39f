-- The part of MPOS's schema that nomp-rs reads and writes in MPOS mode, plus one table of
-- its own. Columns follow MPOS's names and types; load it into an empty database to try
-- MPOS mode without a full MPOS install (an MPOS database already has the first three).

CREATE TABLE IF NOT EXISTS accounts (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT,
  username VARCHAR(40) NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY username (username)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS pool_worker (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT,
  account_id INT UNSIGNED NOT NULL,
  username CHAR(50) DEFAULT NULL,
  password CHAR(255) DEFAULT NULL,
  difficulty FLOAT NOT NULL DEFAULT 0,
  monitor TINYINT NOT NULL DEFAULT 0,
  PRIMARY KEY (id),
  UNIQUE KEY username (username),
  KEY account_id (account_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS shares (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  rem_host VARCHAR(255) NOT NULL,
  username VARCHAR(120) NOT NULL,
  our_result ENUM('Y','N') NOT NULL,
  upstream_result ENUM('Y','N') DEFAULT NULL,
  reason VARCHAR(50) DEFAULT NULL,
  solution VARCHAR(257) NOT NULL,
  difficulty FLOAT NOT NULL DEFAULT 0,
  time TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  KEY time (time),
  KEY upstream_result (upstream_result),
  KEY our_result (our_result),
  KEY username (username)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- nomp-rs: share batches already written, so a batch replayed after a lost answer (a
-- database restart mid-commit) is not inserted twice.
CREATE TABLE IF NOT EXISTS nomp_share_batches (
  writer VARCHAR(64) NOT NULL,
  seq BIGINT UNSIGNED NOT NULL,
  written TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (writer, seq)
) ENGINE=InnoDB;
