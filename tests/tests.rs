//! Cross-layer integration tests: one binary, real services, the naive reference as oracle.

mod support;

mod archive;
mod backtest;
mod batch;
mod batch_every;
mod bot;
mod bot_kafka;
mod bot_speed;
mod config;
mod dashboard;
mod demo;
mod deploy;
mod deploy_dashboard;
mod deploy_stack;
mod faults_archive;
mod faults_pg_batch;
mod faults_pg_speed;
mod features;
mod features_deploy;
mod features_naive;
mod kafka;
mod logs;
mod produce;
mod quote;
mod readers;
mod reference;
mod serve;
mod serve_open_range;
mod serve_signals;
mod serve_stream;
mod speed;
mod speed_crash;
mod store_postgres;
mod timescale;
