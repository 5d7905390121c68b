#!/usr/bin/perl
# Writes a MaxMind DB file (.mmdb) for the GeoIP tests, from a spec that maps networks to records.
#
#   make_mmdb.pl [--schema country.iso_code|country_code] [--ip-version 6|4] SPEC OUTPUT
#
# SPEC is a file, either JSON or text:
#   JSON  {"198.51.100.0/25": "FR", "2001:db8:1::/48": {"country_code": 7}}
#   text  one "NETWORK CODE" per line; blank lines and lines starting with '#' are skipped
# A code (a string) becomes a record of the chosen schema: {"country": {"iso_code": CODE}} as
# MaxMind and DB-IP write it, or {"country_code": CODE} as ip-location-db does. A JSON object is
# written as it is, so that a test can store odd records: a key is a map when it holds an object,
# an unsigned 32-bit integer when it holds a whole number, and a UTF-8 string otherwise.
#
# Test networks sit in reserved space (198.51.100.0/24, 2001:db8::/32), so reserved networks are
# kept; IPv4-mapped, 6to4 and Teredo IPv6 addresses are aliased to IPv4, as in the real databases.
use strict;
use warnings;

use Getopt::Long qw(GetOptions);
use JSON::PP ();
use MaxMind::DB::Writer::Tree ();

my %SCHEMAS = (
    'country.iso_code' => sub { return { country => { iso_code => $_[0] } } },
    'country_code'     => sub { return { country_code => $_[0] } },
);

sub usage {
    print STDERR "usage: make_mmdb.pl [--schema country.iso_code|country_code] "
        . "[--ip-version 6|4] SPEC OUTPUT\n";
    exit 2;
}

sub read_file {
    my ($path) = @_;
    open my $fh, '<:raw', $path or die "make_mmdb.pl: cannot read $path: $!\n";
    local $/;
    my $text = <$fh>;
    close $fh;
    return $text;
}

# The spec as a list of [network, code or record], in the order written.
sub parse_spec {
    my ($text) = @_;
    if ($text =~ /\A\s*\{/) {
        my $spec = JSON::PP->new->utf8->relaxed(0)->decode($text);
        return map { [ $_, $spec->{$_} ] } sort keys %{$spec};
    }

    my @entries;
    for my $line (split /\n/, $text) {
        next if $line =~ /\A\s*(?:#|\z)/;
        my ($network, $code, $rest) = split ' ', $line;
        die "make_mmdb.pl: expected 'NETWORK CODE', got: $line\n"
            unless defined $code && !defined $rest;
        push @entries, [ $network, $code ];
    }
    return @entries;
}

# The type of every key in the records, for the writer, which needs one type per key name.
sub key_types {
    my (@records) = @_;
    my %types = (country => 'map', iso_code => 'utf8_string', country_code => 'utf8_string');
    my %declared;
    my $walk;
    $walk = sub {
        my ($record) = @_;
        for my $key (keys %{$record}) {
            my $value = $record->{$key};
            my $type = ref $value eq 'HASH' ? 'map'
                : (!ref $value && defined $value && $value =~ /\A[0-9]+\z/ && !_is_string($value))
                ? 'uint32'
                : 'utf8_string';
            die "make_mmdb.pl: key '$key' holds values of two types ($declared{$key}, $type)\n"
                if exists $declared{$key} && $declared{$key} ne $type;
            $declared{$key} = $type;
            $walk->($value) if $type eq 'map';
        }
    };
    $walk->($_) for grep { ref $_ eq 'HASH' } @records;
    return { %types, %declared };
}

# JSON::PP gives a number read from JSON as a number and a string as a string; B tells them apart.
sub _is_string {
    require B;
    my $flags = B::svref_2object(\$_[0])->FLAGS;
    return ($flags & B::SVp_POK()) && !($flags & (B::SVp_IOK() | B::SVp_NOK()));
}

sub main {
    my $schema = 'country.iso_code';
    my $ip_version = 6;
    GetOptions('schema=s' => \$schema, 'ip-version=i' => \$ip_version) or usage();
    usage() unless @ARGV == 2 && $SCHEMAS{$schema} && ($ip_version == 4 || $ip_version == 6);
    my ($spec_path, $output) = @ARGV;

    my @entries = parse_spec(read_file($spec_path));
    my @records = map { ref $_->[1] eq 'HASH' ? $_->[1] : $SCHEMAS{$schema}->($_->[1]) } @entries;
    my $types = key_types(@records);

    my $tree = MaxMind::DB::Writer::Tree->new(
        ip_version               => $ip_version,
        record_size              => 24,
        database_type            => 'fotostudio-test-Country',
        languages                => ['en'],
        description              => { en => "fotostudio-auth test database ($schema)" },
        remove_reserved_networks => 0,
        alias_ipv6_to_ipv4       => $ip_version == 6 ? 1 : 0,
        map_key_type_callback    => sub { $types->{ $_[0] } // 'utf8_string' },
    );
    for my $i (0 .. $#entries) {
        $tree->insert_network($entries[$i][0], $records[$i]);
    }

    # Written beside the target and renamed, so that a reader never sees half a file.
    my $partial = "$output.partial-$$";
    open my $fh, '>:raw', $partial or die "make_mmdb.pl: cannot write $partial: $!\n";
    $tree->write_tree($fh);
    close $fh or die "make_mmdb.pl: cannot write $partial: $!\n";
    rename $partial, $output or die "make_mmdb.pl: cannot rename to $output: $!\n";
    return 0;
}

exit main();
