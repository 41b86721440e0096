runtime copy of runtime/php/Json.php (244 lines); the lines generation adds or changes:
7: namespace Clickstream\Events\Web;
