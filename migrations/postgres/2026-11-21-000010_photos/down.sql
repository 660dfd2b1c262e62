DROP TABLE jobs;
DROP TABLE uploads;
DROP TABLE photo_links;
DROP TABLE photo_uploaders;
DROP TABLE photos;
